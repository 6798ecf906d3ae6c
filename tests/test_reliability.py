"""Reliability (issue 13): concurrent drops, role changes and re-registrations against bids end
cleanly — no deadlock, no XX000, no grant left to a removed buyer, no offering without criteria."""

import json
import threading

import psycopg
import pytest

from conftest import one
from nyop_pg import paper

PREFS = json.dumps(paper.PAPER_BID["preferences"])


def _bid(conn, amount=1000):
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    return conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', %s, %s) "
                        "RETURNING status, view::text", (amount, PREFS)).fetchone()


def _in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as e:          # noqa: BLE001 - reported to the test
            out["error"] = e
    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_forced_drop_waits_for_a_bid_in_flight_instead_of_deadlocking(server, dbname, paper_db, buyer):
    name, conn = buyer()
    assert _bid(conn, 700)[0] == "accepted"
    conn.autocommit = False
    assert _bid(conn, 300)[0] == "accepted"          # an upgrade in flight: holds the view
    with psycopg.connect(server.dsn_for(dbname), autocommit=True) as op:
        op.execute("SET lock_timeout = '20s'")
        t, out = _in_thread(lambda: op.execute("SELECT nyop_drop_offering('paper_a', force => true)"))
        t.join(1.0)
        assert t.is_alive(), "the drop waits for the bid"
        conn.commit()
        t.join(30)
        assert "error" not in out, out.get("error")
    conn.autocommit = True
    assert one(paper_db, "SELECT count(*) FROM nyop.offerings WHERE name = 'paper_a'") == 0
    with pytest.raises(psycopg.errors.UndefinedObject):        # a later bid: a clean refusal
        _bid(conn)


def test_concurrent_buyer_additions_all_succeed(server, dbname, make_role):
    roles = [make_role(f"c{i}")[0] for i in range(6)]
    errors = []

    def add(role):
        try:
            with psycopg.connect(server.dsn_for(dbname), autocommit=True) as c:
                c.execute(f"SELECT nyop_add_buyer('\"{role}\"')")
                c.execute(f"SELECT nyop_add_provider('\"{role}\"')")
        except psycopg.Error as e:
            errors.append(f"{e.sqlstate}: {e}")
    threads = [threading.Thread(target=add, args=(r,)) for r in roles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_buyer_removed_while_bidding_reads_none_of_its_views(server, dbname, paper_db, buyer):
    name, conn = buyer()
    conn.autocommit = False
    status, view = _bid(conn)
    assert status == "accepted"
    with psycopg.connect(server.dsn_for(dbname), autocommit=True) as op:
        op.execute("SET lock_timeout = '20s'")
        t, out = _in_thread(lambda: op.execute(f"SELECT nyop_remove_buyer('\"{name}\"')"))
        t.join(1.0)
        assert t.is_alive(), "the removal waits for the bid in flight"
        conn.commit()
        t.join(30)
        assert "error" not in out, out.get("error")
    conn.autocommit = True
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"SELECT * FROM {view}").fetchall()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _bid(conn)


def test_reregistering_keeps_the_criteria(paper_db, buyer):
    before = paper_db.execute("SELECT criterion, provider_weight FROM nyop.criteria WHERE offering = 'paper_a' "
                              "ORDER BY ordinal").fetchall()
    paper_db.execute("SELECT nyop_register_offering('paper_a', 'weather_a', 1100, ARRAY['station', 'date'], "
                     "last_updated => 'lastupdated', volatility => '24 hours')")
    assert paper_db.execute("SELECT criterion, provider_weight FROM nyop.criteria WHERE offering = 'paper_a' "
                            "ORDER BY ordinal").fetchall() == before
    _, conn = buyer()
    assert _bid(conn)[0] == "accepted"              # on sale right after, with its criteria
    # without a last-updated column timeliness cannot apply: it goes, the others stay
    paper_db.execute("SELECT nyop_register_offering('paper_a', 'weather_a', 1100, ARRAY['station', 'date'])")
    assert [r[0] for r in paper_db.execute("SELECT criterion FROM nyop.criteria WHERE offering = 'paper_a' "
                                           "ORDER BY ordinal")] == [c for c, _ in before if c != "timeliness"]


# -- keys and last-updated values the provider's table accepts ----------------------------------

def test_a_key_that_does_not_identify_one_row_is_refused_with_history(db):
    db.execute("CREATE TABLE dk (k int, v int, lu timestamptz NOT NULL)")
    db.execute("INSERT INTO dk VALUES (1, 1, now()), (1, 2, now()), (1, 3, now()), (2, 4, now())")
    reg = ("SELECT nyop_register_offering('dk', 'dk', 100, ARRAY['k'], last_updated => 'lu', "
           "volatility => '1 day')")
    with pytest.raises(psycopg.errors.InvalidColumnReference) as e:
        db.execute(reg)
    assert "PRIMARY KEY" in e.value.diag.message_hint
    db.execute("DELETE FROM dk WHERE v IN (2, 3)")
    db.execute("CREATE UNIQUE INDEX ON dk (k)")
    with pytest.raises(psycopg.errors.InvalidColumnReference) as e:      # unique, but NULLs allowed
        db.execute(reg)
    assert "SET NOT NULL" in e.value.diag.message_hint
    db.execute("ALTER TABLE dk ALTER COLUMN k SET NOT NULL")
    db.execute(reg)
    db.execute("UPDATE dk SET v = v + 1, lu = now()")
    hist = one(db, "SELECT history::text FROM nyop.histories WHERE relation = 'dk'::regclass")
    assert one(db, f"SELECT count(*) FROM {hist}") == 2                   # one old version per row
    # without history (no last-updated column) any key will do: nothing pairs versions
    db.execute("CREATE TABLE dk2 (k int, v int)")
    db.execute("SELECT nyop_register_offering('dk2', 'dk2', 100, ARRAY['k'])")


def test_long_keys_do_not_block_the_providers_writes(db):
    db.execute("CREATE TABLE lk (id int PRIMARY KEY, name text NOT NULL, v int, lu timestamptz NOT NULL)")
    db.execute("INSERT INTO lk SELECT i, (SELECT string_agg(md5(i::text || j::text), '') FROM generate_series(1, 200) j),"
               " i, now() FROM generate_series(1, 5) i")                     # 6.4 kB keys, incompressible
    db.execute("SELECT nyop_register_offering('lk', 'lk', 100, ARRAY['id', 'name'], last_updated => 'lu', "
               "volatility => '1 day')")
    db.execute("UPDATE lk SET v = v + 1")
    db.execute("DELETE FROM lk WHERE id = 1")
    hist = one(db, "SELECT history::text FROM nyop.histories WHERE relation = 'lk'::regclass")
    assert one(db, f"SELECT count(*) FROM {hist}") == 6


def test_infinite_last_updated_values_keep_quotes_and_bids_working(paper_db, buyer):
    paper_db.execute("UPDATE weather_a SET lastupdated = 'infinity' WHERE station = 'FRA'")
    paper_db.execute("UPDATE weather_a SET lastupdated = '-infinity' WHERE station = 'LHR'")
    q = one(paper_db, "SELECT nyop_quality('paper_a')")
    assert 0 < q["timeliness"] < 1
    _, conn = buyer()
    assert _bid(conn)[0] == "accepted"


def test_unlogged_and_temporary_tables_cannot_be_sold(db):
    db.execute("CREATE UNLOGGED TABLE ul (id int PRIMARY KEY, v int)")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as e:
        db.execute("SELECT nyop_register_offering('ul', 'ul', 100, ARRAY['id'])")
    assert "SET LOGGED" in e.value.diag.message_hint


def test_the_roles_a_restore_needs_first(paper_db, buyer):
    name, conn = buyer()
    _bid(conn)
    roles = dict(paper_db.execute("SELECT role, as_what FROM nyop_roles()").fetchall())
    assert roles[name] == "bidder, buyer" and "provider" in roles[one(paper_db, "SELECT current_user::text")]


@pytest.mark.parametrize("timeout_ms", [1, 5, 20, 50, 100])
def test_a_cancel_during_a_sessions_first_call_shows_no_traceback(server, dbname, paper_db, timeout_ms):
    with psycopg.connect(server.dsn_for(dbname), autocommit=True) as c:    # a new session: nothing loaded
        c.execute(f"SET statement_timeout = '{timeout_ms}ms'")
        try:
            c.execute(f"SELECT nyop_quote('paper_a', 1000, '{PREFS}')")
        except psycopg.Error as e:
            assert e.sqlstate == "57014", e
            assert "Traceback" not in str(e) and "Traceback" not in (e.diag.context or ""), e.diag.context


def test_a_cancel_inside_the_load_is_an_error_not_a_traceback(server, dbname, paper_db):
    """The same, made certain: the session's load is held up (a sleep before it, as a slow disk
    would) so the statement timeout lands inside it, in every door."""
    body = one(paper_db, "SELECT prosrc FROM pg_proc WHERE oid = 'nyop._load()'::regprocedure")
    paper_db.execute("CREATE OR REPLACE FUNCTION nyop._load() RETURNS void LANGUAGE plpython3u "
                     "SET search_path = pg_catalog, pg_temp AS $body$\nplpy.execute('SELECT pg_sleep(30)')\n"
                     + body.replace("$body$", "") + "$body$")
    calls = [f"SELECT nyop_quote('paper_a', 1000, '{PREFS}')",               # the buyer's door
             "SELECT nyop_quality('paper_a')",                                # the definer's door
             "SELECT nyop_solve_mckp(ARRAY[[0,1]]::float8[], ARRAY[[0,1]]::float8[], 1)"]   # the plain door
    for sql in calls:
        with psycopg.connect(server.dsn_for(dbname), autocommit=True) as c:
            c.execute("SET statement_timeout = '300ms'")
            with pytest.raises(psycopg.errors.QueryCanceled) as ei:
                c.execute(sql)
            e = ei.value
            assert "Traceback" not in str(e) and "Traceback" not in (e.diag.context or ""), e.diag.context
            assert 'File "' not in (e.diag.context or "")


def test_removing_a_buyer_who_also_provides_keeps_its_provider_rights(db, make_role):
    """A privilege is one ACL entry whatever it was granted for: a role that sells a table and
    also buys keeps, when removed as a buyer, the schema usage its capture triggers need and
    what nyop_add_provider granted."""
    prov, dsn = make_role("provider")
    db.execute(f'CREATE SCHEMA p AUTHORIZATION "{prov}"')
    db.execute(f"SELECT nyop_add_provider('\"{prov}\"')")
    with psycopg.connect(dsn, autocommit=True) as cp:
        cp.execute("CREATE TABLE p.pe (id int PRIMARY KEY, a int, lu timestamptz NOT NULL)")
        cp.execute("INSERT INTO p.pe SELECT i, i, '2017-05-07 12:00+00' FROM generate_series(1, 20) i")
        db.execute("SELECT nyop_register_offering('pe', 'p.pe', 100, ARRAY['id'], last_updated => 'lu', "
                   "volatility => '24 hours')")
        db.execute("SELECT nyop_set_criterion('pe', 'timeliness', 1)")
        db.execute(f"SELECT nyop_add_buyer('\"{prov}\"')")
        db.execute(f"SELECT nyop_remove_buyer('\"{prov}\"')")
        cp.execute("UPDATE p.pe SET a = a + 1, lu = '2017-05-07 13:00+00' WHERE id <= 3")   # captured
        cp.execute("DELETE FROM p.pe WHERE id = 20")
        hist = one(db, "SELECT history::text FROM nyop.histories WHERE relation = 'p.pe'::regclass")
        assert one(db, f"SELECT count(*) FROM {hist}") == 4
        assert cp.execute("SELECT count(*) FROM nyop.provider_bids").fetchone()[0] == 0
        cp.execute("SELECT nyop_audit('pe')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cp.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('pe', 1, '{}')")


def test_removing_a_buyer_who_owns_a_sold_table_keeps_its_writes_working(db, make_role):
    owner, dsn = make_role("owner")
    db.execute(f'CREATE SCHEMA q AUTHORIZATION "{owner}"')
    with psycopg.connect(dsn, autocommit=True) as co:
        co.execute("CREATE TABLE q.t (id int PRIMARY KEY, a int, lu timestamptz NOT NULL)")
        co.execute("INSERT INTO q.t SELECT i, i, '2017-05-07 12:00+00' FROM generate_series(1, 10) i")
        db.execute("SELECT nyop_register_offering('qt', 'q.t', 100, ARRAY['id'], last_updated => 'lu', "
                   "volatility => '24 hours')")
        db.execute("SELECT nyop_set_criterion('qt', 'timeliness', 1)")
        db.execute(f"SELECT nyop_add_buyer('\"{owner}\"')")
        db.execute(f"SELECT nyop_remove_buyer('\"{owner}\"')")
        co.execute("UPDATE q.t SET a = a + 1 WHERE id <= 2")
        co.execute("INSERT INTO q.t VALUES (11, 11, '2017-05-07 12:00+00')")
        assert not one(db, "SELECT has_table_privilege(%s, 'nyop.bids', 'INSERT')", (owner,))


def test_a_buyer_added_again_reads_what_it_bought_before(paper_db, buyer):
    """Removal suspends a buyer's access; its purchases stand, and adding it again restores
    exactly them (the current version of each, not a replaced one)."""
    name, conn = buyer()
    status, _ = _bid(conn, 200)
    assert status == "accepted"
    status, view = _bid(conn, 1000)                              # an upgrade: replaces the first
    assert status == "accepted"
    rows = conn.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
    paper_db.execute(f"SELECT nyop_remove_buyer('\"{name}\"')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"SELECT * FROM {view}").fetchall()
    paper_db.execute(f"SELECT nyop_add_buyer('\"{name}\"')")
    assert conn.execute(f"SELECT count(*) FROM {view}").fetchone()[0] == rows
    current = paper_db.execute("SELECT view::text FROM nyop.purchases WHERE buyer = %s::regrole "
                               "AND superseded_by IS NULL", (name,)).fetchall()
    assert current == [(view,)]
    granted = paper_db.execute("SELECT DISTINCT p.view::text FROM nyop.purchases p WHERE p.buyer = %s::regrole "
                               "AND has_table_privilege(%s, p.view, 'SELECT')", (name, name)).fetchall()
    assert granted == [(view,)]


def test_removing_a_buyer_who_is_a_member_of_a_provider_grants_it_nothing(db, make_role):
    """The removal keeps what a role holds as a provider itself, never what it holds through a
    provider role it is a member of: that would outlive the membership."""
    prov, _ = make_role("provider")
    member, dsn = make_role("member")
    db.execute(f"SELECT nyop_add_provider('\"{prov}\"')")
    db.execute(f'GRANT "{prov}" TO "{member}"')
    db.execute(f"SELECT nyop_add_buyer('\"{member}\"')")
    db.execute(f"SELECT nyop_remove_buyer('\"{member}\"')")
    db.execute(f'REVOKE "{prov}" FROM "{member}"')
    with psycopg.connect(dsn, autocommit=True) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT count(*) FROM nyop.provider_bids").fetchone()
