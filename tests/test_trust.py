"""Trust (issue 10): a buyer gets exactly what was paid for, only after paying; a provider runs no
code with anyone else's rights; a buyer's business stays private (docs/model.md §7.3, §8; SPEC.md)."""

import json
import uuid

import psycopg
import pytest

from conftest import one
from nyop_pg import paper

PREFS = json.dumps(paper.PAPER_BID["preferences"])
LATER = "2017-05-08 02:00+00"


def bid_sql(offering="paper_a", amount=1000, prefs=PREFS):
    return ("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('%s', %s, '%s') RETURNING bid_id, view::text"
            % (offering, amount, prefs))


# -- 1. nothing before payment ---------------------------------------------------------------

def test_a_purchase_is_not_readable_inside_the_transaction_that_placed_it(paper_db, buyer):
    _, conn = buyer()
    conn.autocommit = False
    conn.execute(f"SET nyop.now = '{LATER}'")
    bid_id, view = conn.execute(bid_sql()).fetchone()
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as e:
        conn.execute(f"SELECT * FROM {view}").fetchall()
    assert "not paid yet" in str(e.value) and e.value.diag.message_hint
    conn.rollback()
    conn.autocommit = True
    # rolled back: nothing on record, nothing to read
    assert one(conn, "SELECT count(*) FROM nyop.bids") == 0
    assert one(paper_db, "SELECT to_regclass(%s)", (view,)) is None


def test_a_savepoint_rolled_back_delivers_nothing(paper_db, buyer):
    _, conn = buyer()
    conn.autocommit = False
    conn.execute(f"SET nyop.now = '{LATER}'")
    conn.execute("SAVEPOINT s")
    _, view = conn.execute(bid_sql()).fetchone()
    conn.execute("SAVEPOINT inner_one")                      # a subtransaction of the placing one
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        conn.execute(f"SELECT * FROM {view}").fetchall()
    conn.execute("ROLLBACK TO inner_one")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):   # nor through a function
        conn.execute(f"SELECT count(*) FROM (SELECT * FROM {view}) v").fetchall()
    conn.execute("ROLLBACK TO s")
    conn.commit()
    conn.autocommit = True
    assert one(conn, "SELECT count(*) FROM nyop.bids") == 0


def test_a_committed_purchase_is_readable_and_the_guard_runs_once_per_query(paper_db, buyer):
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{LATER}'")
    _, view = conn.execute(bid_sql()).fetchone()
    assert len(conn.execute(f"SELECT * FROM {view}").fetchall()) == 6
    plan = conn.execute(f"EXPLAIN (VERBOSE, FORMAT JSON) SELECT * FROM {view}").fetchone()[0][0]["Plan"]
    # evaluated once, not per row: in an initPlan (a delayed view folds it into its cutoff), or a
    # one-time filter — never in a condition evaluated per row
    nodes, stack = [], [plan]
    while stack:
        n = stack.pop()
        nodes.append(n)
        stack += n.get("Plans", [])
    assert any("_paid" in " ".join(n.get("Output", [])) for n in nodes if n.get("Parent Relationship") == "InitPlan") \
        or any("One-Time Filter" in n for n in nodes)
    assert not any("_paid" in n.get(k, "") for n in nodes for k in ("Filter", "Join Filter", "Index Cond"))


def test_an_upgrade_is_not_readable_before_it_commits(paper_db, buyer):
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    _, view = conn.execute(bid_sql(amount=700)).fetchone()
    conn.autocommit = False
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    _, view2 = conn.execute(bid_sql(amount=300)).fetchone()
    assert view2 == view                                    # upgraded in place
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        conn.execute(f"SELECT * FROM {view}").fetchall()
    conn.rollback()
    conn.autocommit = True
    conn.execute(f"SET nyop.now = '{LATER}'")
    conn.execute(f"SELECT * FROM {view}").fetchall()          # the version paid for before: still there


def test_a_prepared_purchase_delivers_nothing(paper_db, buyer):
    if one(paper_db, "SELECT current_setting('max_prepared_transactions')::int") == 0:
        pytest.skip("the server has max_prepared_transactions = 0")
    name, conn = buyer()
    gid = "nyop_" + uuid.uuid4().hex[:8]
    conn.autocommit = False
    conn.execute(f"SET nyop.now = '{LATER}'")
    _, view = conn.execute(bid_sql()).fetchone()
    conn.execute(f"PREPARE TRANSACTION '{gid}'")
    conn.autocommit = True
    try:
        # from another session (as the buyer): the view is not there yet, or shows nothing
        assert one(conn, "SELECT to_regclass(%s)", (view,)) is None
        assert one(conn, "SELECT count(*) FROM nyop.bids") == 0
    finally:
        paper_db.execute(f"ROLLBACK PREPARED '{gid}'")
    assert one(conn, "SELECT to_regclass(%s)", (view,)) is None


def test_restored_purchases_are_readable(paper_db, buyer):
    """pg_restore copies purchases in: a transaction ID from another cluster means nothing here
    (it may even lie in this cluster's future). Restored purchases were paid where they were placed."""
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{LATER}'")
    bid_id, view = conn.execute(bid_sql()).fetchone()
    assert one(paper_db, "SELECT placed_xid IS NOT NULL FROM nyop.purchases WHERE bid_id = %s", (bid_id,))
    cols = "bid_id, offering, buyer, view, threshold, completeness, created_at, superseded_by, masked, delay"
    paper_db.execute("BEGIN")
    paper_db.execute(f"CREATE TEMP TABLE saved AS SELECT {cols} FROM nyop.purchases WHERE bid_id = %s", (bid_id,))
    paper_db.execute("DELETE FROM nyop.purchases WHERE bid_id = %s", (bid_id,))
    paper_db.execute(f"INSERT INTO nyop.purchases ({cols}, placed_xid) SELECT {cols}, '999999999999'::xid8 FROM saved")
    paper_db.execute("COMMIT")
    assert one(paper_db, "SELECT placed_xid FROM nyop.purchases WHERE bid_id = %s", (bid_id,)) is None
    # and should a foreign ID get through (pg_restore --disable-triggers), the view still reads
    paper_db.execute("ALTER TABLE nyop.purchases DISABLE TRIGGER purchase_restored")
    paper_db.execute("UPDATE nyop.purchases SET placed_xid = '999999999999'::xid8 WHERE bid_id = %s", (bid_id,))
    paper_db.execute("ALTER TABLE nyop.purchases ENABLE TRIGGER purchase_restored")
    assert len(conn.execute(f"SELECT * FROM {view}").fetchall()) == 6


# -- 2. provider code never runs with anyone else's rights -------------------------------------

def _provider(db, make_role):
    prov, dsn = make_role("provider")
    db.execute(f'CREATE SCHEMA p AUTHORIZATION "{prov}"')
    db.execute(f"SELECT nyop_add_provider('\"{prov}\"')")
    cp = psycopg.connect(dsn, autocommit=True)
    cp.execute("CREATE TABLE p.log (who text, super bool)")
    cp.execute("GRANT USAGE ON SCHEMA p TO PUBLIC; GRANT INSERT ON p.log TO PUBLIC")
    return prov, cp


def _sold_with_history(db, cp, prov):
    cp.execute("CREATE TABLE p.pe (id int PRIMARY KEY, a int, b int, lu timestamptz NOT NULL)")
    cp.execute("INSERT INTO p.pe SELECT i, i, i, '2017-05-07 12:00+00' FROM generate_series(1, 20) i")
    db.execute("SELECT nyop_register_offering('pe', 'p.pe', 100, ARRAY['id'], last_updated => 'lu', "
               "volatility => '24 hours')")
    db.execute("SELECT nyop_set_criterion('pe', 'timeliness', 1)")


def test_history_capture_runs_as_the_table_owner(db, make_role):
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp, prov)
        owners = db.execute("SELECT DISTINCT p.proowner::regrole::text, p.prosecdef FROM pg_trigger t "
                            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = 'p.pe'::regclass "
                            "AND t.tgname LIKE 'nyop_history_%'").fetchall()
        assert owners == [(f'"{prov}"' if not prov.islower() else prov, True)]
        # another role the provider lets write: its writes are captured, it needs nothing of nyop
        writer, wdsn = make_role("writer")
        cp.execute(f'GRANT USAGE ON SCHEMA p TO "{writer}"; GRANT SELECT, UPDATE, DELETE ON p.pe TO "{writer}"')
        with psycopg.connect(wdsn, autocommit=True) as w:
            w.execute("UPDATE p.pe SET a = a + 1, lu = '2017-05-07 13:00+00' WHERE id <= 3")
            w.execute("DELETE FROM p.pe WHERE id = 20")
        hist = one(db, "SELECT history::text FROM nyop.histories WHERE relation = 'p.pe'::regclass")
        assert one(db, f"SELECT count(*) FROM {hist}") == 4


def test_provider_cast_in_history_capture_never_runs_as_superuser(db, make_role):
    """The issue's reproduction: a cast the provider adds on a sold column no view uses yet."""
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp, prov)
        cp.execute("CREATE TYPE p.e AS ENUM ('x')")
        cp.execute("""CREATE FUNCTION p.evil(p.e) RETURNS int LANGUAGE plpgsql AS $$
                      BEGIN
                          INSERT INTO p.log SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
                          BEGIN EXECUTE format('ALTER ROLE %I SUPERUSER', session_user); EXCEPTION WHEN others THEN NULL; END;
                          RETURN 1;
                      END$$""")
        cp.execute("CREATE CAST (p.e AS int) WITH FUNCTION p.evil(p.e) AS ASSIGNMENT")
        try:
            cp.execute("ALTER TABLE p.pe ALTER COLUMN b TYPE p.e USING 'x'")
        except psycopg.Error as e:                            # refusing the DDL is a fine defence too
            assert e.sqlstate in ("55006", "42501"), e
        try:
            cp.execute("UPDATE p.pe SET a = a + 1 WHERE id = 1")
        except psycopg.Error as e:
            assert e.sqlstate and not e.sqlstate.startswith("XX"), e
        assert not one(db, "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (prov,))
        assert db.execute("SELECT DISTINCT who FROM p.log WHERE super OR who <> %s", (prov,)).fetchall() == []


# -- 4. every purchase below full completeness is masked ----------------------------------------

def _completeness(conn, view, now, skip=("lu",)):
    conn.execute(f"SET nyop.now = '{now}'")
    cur = conn.execute(f"SELECT * FROM {view}")
    names = [d.name for d in cur.description]
    idx = [i for i, n in enumerate(names) if n not in skip]
    rows = cur.fetchall()
    return sum(1 for r in rows for i in idx if r[i] is not None) / (len(rows) * len(idx)), len(rows)


def _masked_offering(db, nulls: str):
    db.execute(f"""CREATE TABLE mt (id int PRIMARY KEY, a int, b int, c int, d int, lu timestamptz NOT NULL);
                   INSERT INTO mt SELECT i, {nulls}, {nulls}, {nulls}, {nulls}, '2017-05-07 12:00+00'
                   FROM generate_series(1, 400) i;
                   SELECT nyop_register_offering('mt', 'mt', 1000, ARRAY['id'], last_updated => 'lu',
                                                 volatility => '24 hours');
                   SELECT nyop_set_criterion('mt', 'completeness', 1);
                   SELECT nyop_set_criterion('mt', 'timeliness', 1);""")


def test_masked_columns_all_null_at_purchase_stay_masked_when_filled(db, buyer):
    _masked_offering(db, "NULL")
    _, conn = buyer()
    conn.execute("SET nyop.now = '2017-05-07 18:00+00'")
    q = conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('mt', 400, "
                     "'{\"completeness\": 1, \"timeliness\": 1}') RETURNING status, quote, view::text").fetchone()
    assert q[0] == "accepted" and q[1]["completeness_target"] < 1, q
    db.execute("UPDATE mt SET a = id, b = id, c = id, d = id")          # the provider fills every cell
    got, n = _completeness(conn, q[2], "2017-05-10 12:00+00")
    # (keys are never masked: 1 column in 5)
    assert n == 400 and got <= max(q[1]["completeness_target"], 0.2) + 0.02, (got, q[1]["completeness_target"])


def test_rows_behind_the_delay_at_purchase_are_masked_once_visible(db, buyer):
    _masked_offering(db, "CASE WHEN i % 10 = 0 THEN NULL ELSE i END")
    _, conn = buyer()
    conn.execute("SET nyop.now = '1900-01-01'")                 # the buyer's own setting: nothing visible yet
    q = conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('mt', 500, "
                     "'{\"completeness\": 3, \"timeliness\": 1}') RETURNING status, quote, view::text").fetchone()
    assert q[0] == "accepted"
    target = q[1]["completeness_target"]
    assert target is not None and target < 0.9
    got, n = _completeness(conn, q[2], "2017-05-20 12:00+00")
    assert n == 400
    data = 0.2 + 0.8 * 0.9                                      # the data's own completeness
    assert got < data - 0.05 and abs(got - target) < 0.1, (got, target, data)


# -- 6. a buyer's business stays private -------------------------------------------------------

def test_other_roles_see_no_prices_or_levels_in_the_catalog(paper_db, buyer):
    _, ca = buyer("a")
    _, cb = buyer("b")
    ca.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    _, view = ca.execute(bid_sql(amount=987)).fetchone()
    text = " ".join(str(x) for x in cb.execute(
        "SELECT obj_description(c.oid, 'pg_class'), pg_get_viewdef(c.oid), "
        "(SELECT string_agg(col_description(c.oid, a.attnum), ' ') FROM pg_attribute a WHERE a.attrelid = c.oid) "
        "FROM pg_class c WHERE c.relnamespace = 'nyop_views'::regnamespace").fetchall())
    assert "987" not in text and "level" not in text and "31104" not in text and "make_interval" not in text
    assert "nyop:" in text                                      # columns say what nyop does to them
    assert cb.execute("SELECT * FROM nyop.my_purchases").fetchall() == []
    mine = ca.execute("SELECT paid_total, delay, levels FROM nyop.my_purchases").fetchone()
    assert mine[0] == 987 and mine[1] is not None and mine[2]


def test_only_buyers_quote(paper_db, make_role):
    prov, dsn = make_role("seller")
    paper_db.execute(f'ALTER TABLE weather_a OWNER TO "{prov}"')
    paper_db.execute(f"SELECT nyop_add_provider('\"{prov}\"')")
    with psycopg.connect(dsn, autocommit=True) as p:
        p.execute("SELECT nyop_quality('paper_a')")              # providers may measure
        for sql in ("SELECT nyop._priced('quote', 'paper_a', 1000, '{\"timeliness\": 1}', NULL, NULL, 'exact')",
                    "SELECT nyop._call_definer('quote', '{\"offering\": \"paper_a\", \"bid\": 1000, "
                    "\"preferences\": {\"timeliness\": 1}}')",
                    "SELECT nyop._call_definer('explain', '{}')",
                    "SELECT nyop._call_buyer('quote', '{}')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                p.execute("SELECT nyop._unwrap((%s))" % sql[len("SELECT "):]).fetchall()


def test_seller_analytics_hides_weight_derived_figures_below_five_buyers(paper_db, buyer, make_role):
    prov, dsn = make_role("seller")
    paper_db.execute(f'ALTER TABLE weather_a OWNER TO "{prov}"')
    paper_db.execute("SELECT nyop_register_offering('paper_a', 'weather_a', 1200, ARRAY['station', 'date'], "
                     "last_updated => 'lastupdated', volatility => '24 hours')")
    paper_db.execute(paper.SINGLE_SQL.split(";", 1)[1])          # the criteria again
    paper_db.execute(f"SELECT nyop_add_provider('\"{prov}\"')")
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    conn.execute(bid_sql())
    with psycopg.connect(dsn, autocommit=True) as p:
        rows = p.execute("SELECT accepted, utility_delivered, utility_greedy, revenue_greedy_leaves_on_table "
                         "FROM nyop.seller_analytics").fetchall()
    assert rows == [(1, None, None, None)]


# -- 8. no role can block another buyer's bids --------------------------------------------------

def test_an_advisory_lock_on_the_old_key_blocks_nobody(paper_db, buyer):
    name, conn = buyer("victim")
    _, other = buyer("blocker")
    other.execute("SELECT pg_advisory_lock(hashtextextended(%s || '/' || 'paper_a', 1861))", (name,))
    conn.execute(f"SET lock_timeout = '2s'; SET nyop.now = '{paper.PAPER_NOW}'")
    status = conn.execute(bid_sql().replace("bid_id, view::text", "status")).fetchone()[0]
    assert status == "accepted"


def test_a_buyers_time_zone_makes_nothing_fresher(db, buyer):
    """A date (or timestamp without time zone) last-updated column is read as UTC: with
    TimeZone far east, a buyer must not see versions its delay has not reached yet."""
    db.execute("""CREATE TABLE dz (id int PRIMARY KEY, v int, lu date NOT NULL);
                  INSERT INTO dz SELECT i, i, DATE '2017-05-08' FROM generate_series(1, 10) i;
                  SELECT nyop_register_offering('dz', 'dz', 1000, ARRAY['id'], last_updated => 'lu',
                                                volatility => '10 days');
                  SELECT nyop_set_criterion('dz', 'timeliness', 1);""")
    _, conn = buyer()
    conn.execute("SET nyop.now = '2017-05-09 00:00+00'")
    status, view, delay = conn.execute(
        "INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('dz', 800, '{\"timeliness\": 1}') "
        "RETURNING status, view::text, (quote->>'delay_seconds')::float8").fetchone()
    assert status == "accepted" and 0 < delay < 86400 * 5
    def seen(tz, now):
        conn.execute(f"SET TimeZone = '{tz}'")
        conn.execute(f"SET nyop.now = '{now}'")
        return len(conn.execute(f"SELECT * FROM {view}").fetchall())
    # just before the delay reaches the rows' day (UTC midnight): nothing, whatever the time zone
    just_before = one(db, "SELECT (TIMESTAMPTZ '2017-05-08 00:00+00' + make_interval(secs => %s) "
                          "- interval '1 hour')::text", (delay,))
    assert seen("UTC", just_before) == 0
    assert seen("Etc/GMT-14", just_before) == 0
    db.execute("SET TimeZone = 'UTC'")
    q_utc = one(db, "SELECT nyop_quality('dz')")
    db.execute("SET TimeZone = 'Etc/GMT-14'")
    assert one(db, "SELECT nyop_quality('dz')")["timeliness"] == pytest.approx(q_utc["timeliness"])
