"""What the owner of a sold table can still do to it (issue 10, item 3: "a sold table turned
into a view"), and what the guards of sql/idempotent/070-guards.sql refuse.

A sold relation is nyop.offerings.relation; its history table is nyop.histories.history. The
provider owns the sold table (as in production); every refusal must be a clean error with
SQLSTATE 55006 (or 42501 where it is a privilege matter), a message naming the relation and
the offering, and a HINT; and afterwards history capture must still work and no provider
code may have run as the operator or as a buyer.
"""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg import conninfo

from conftest import one
from nyop_pg import paper

PREFS = json.dumps(paper.PAPER_BID["preferences"])
SHARED = ("_capture_update", "_capture_delete", "_capture_truncate")   # capture before 0.3.0


# -- helpers ------------------------------------------------------------------------------------

def _quoted(role: str) -> str:
    return '"%s"' % role.replace('"', '""')


def _provider(db, make_role, label="provider"):
    """A provider with its own schema p and a log table anyone may write (who ran my code?)."""
    prov, dsn = make_role(label)
    db.execute(f"CREATE SCHEMA p AUTHORIZATION {_quoted(prov)}")
    db.execute(f"SELECT nyop_add_provider('{_quoted(prov)}')")
    cp = psycopg.connect(dsn, autocommit=True)
    cp.execute("CREATE TABLE p.log (who text, super bool)")
    cp.execute("GRANT USAGE ON SCHEMA p TO PUBLIC; GRANT INSERT ON p.log TO PUBLIC")
    cp.execute("CREATE FUNCTION p.spy() RETURNS boolean LANGUAGE plpgsql AS $$BEGIN "
               "INSERT INTO p.log SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user; "
               "RETURN true; END$$")
    return prov, cp


def _sold_with_history(db, cp, name="pe"):
    """p.<name>, owned by the provider, sold with history (timeliness); b is not sold to anyone yet."""
    cp.execute(f"CREATE TABLE p.{name} (id int PRIMARY KEY, a int, b int, lu timestamptz NOT NULL)")
    cp.execute(f"INSERT INTO p.{name} SELECT i, i, i, '2017-05-07 12:00+00' FROM generate_series(1, 20) i")
    db.execute(f"SELECT nyop_register_offering('{name}', 'p.{name}', 100, ARRAY['id'], last_updated => 'lu', "
               "volatility => '24 hours')")
    db.execute(f"SELECT nyop_set_criterion('{name}', 'timeliness', 1)")


def _sold_without_history(db, cp, name="nh"):
    """p.<name>, owned by the provider, sold without history (no capture triggers at all)."""
    cp.execute(f"CREATE TABLE p.{name} (id int PRIMARY KEY, v int)")
    cp.execute(f"INSERT INTO p.{name} SELECT i, CASE WHEN i % 4 = 0 THEN NULL ELSE i END FROM generate_series(1, 20) i")
    db.execute(f"SELECT nyop_register_offering('{name}', 'p.{name}', 100, ARRAY['id'])")
    db.execute(f"SELECT nyop_set_criterion('{name}', 'completeness', 1)")


def _buy(conn, offering, prefs='{"completeness": 1}', bid=100):
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    status, view = conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s, %s, %s) "
                                "RETURNING status, view::text", (offering, bid, prefs)).fetchone()
    assert status == "accepted" and view
    return view


def _history(db, rel):
    return one(db, "SELECT history::text FROM nyop.histories WHERE relation = %s::regclass", (rel,))


def _capture(db, rel):
    """nyop's capture triggers on rel: {trigger name: (function, owner, enabled, SECURITY DEFINER)}."""
    return {r[0]: r[1:] for r in db.execute(
        "SELECT t.tgname, t.tgfoid::regprocedure::text, p.proowner::regrole::text, t.tgenabled, p.prosecdef "
        "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE t.tgrelid = %s::regclass AND t.tgname LIKE 'nyop\\_history\\_%%' ORDER BY 1", (rel,)).fetchall()}


def _per_relation(db, rel) -> bool:
    """Whether capture runs through per-relation functions owned by the table owner (0.3.0 on)
    rather than the shared superuser-owned nyop._capture_update/_delete/_truncate."""
    return all(fn.split("(")[0].split(".")[-1] not in SHARED for fn, *_ in _capture(db, rel).values())


def _refused(conn, sql, sqlstates=("55006",), names=()):
    """sql must fail cleanly with one of sqlstates; the message must name each of names; a HINT."""
    with pytest.raises(psycopg.Error) as e:
        conn.execute(sql)
    err = e.value
    assert err.sqlstate in sqlstates, f"{sql}: {err.sqlstate} {err}"
    assert "Traceback" not in str(err)
    if err.sqlstate in ("55006",) or names:
        assert err.diag.message_hint, f"{sql}: no HINT"
    for n in names:
        assert n in err.diag.message_primary, f"{sql}: {n!r} not in {err.diag.message_primary!r}"
    return err


def _captures(db, cp, rel):
    """History capture still works: an update by the owner lands in the history."""
    hist = _history(db, rel)
    before = one(db, f"SELECT count(*) FROM {hist}")
    cp.execute(f"UPDATE {rel} SET a = a + 1, lu = '2017-05-07 13:00+00' WHERE id = 1")
    assert one(db, f"SELECT count(*) FROM {hist}") == before + 1


def _ran_as(db, prov):
    """Roles other than the provider that ran the provider's code."""
    return {r[0] for r in db.execute("SELECT DISTINCT who FROM p.log WHERE who <> %s OR super", (prov,))}


# -- the issue: a sold table turned into a view -----------------------------------------------

def test_the_return_rule_attack_is_refused_at_its_first_step(paper_db, buyer, make_role):
    """The issue's attack, step by step, as the provider that owns weather_a: drop nyop's capture
    triggers, empty the table, turn it into a view whose rule calls the provider's code. The first
    step nyop guards is refused; whatever the provider does next, no read runs its code as the reader."""
    db = paper_db
    prov, cp = _provider(db, make_role)
    db.execute(f"ALTER TABLE weather_a OWNER TO {_quoted(prov)}")
    bname, conn = buyer()
    view = _buy(conn, "paper_a", PREFS, 1000)
    with cp:
        for trg in ("nyop_history_update", "nyop_history_delete", "nyop_history_truncate"):
            _refused(cp, f"DROP TRIGGER {trg} ON weather_a", names=("weather_a", "paper_a"))
        # the rest of the attack, in case a later PostgreSQL or a new path let the first step through
        for sql in ("DELETE FROM weather_a", "ALTER TABLE weather_a DROP CONSTRAINT weather_a_pkey", "VACUUM weather_a",
                    'CREATE RULE "_RETURN" AS ON SELECT TO weather_a DO INSTEAD '
                    "SELECT station, airpressure, humidity, temperature, date, lastupdated "
                    "FROM (VALUES ('x', 1, 1, 1, date '2017-05-08', now())) "
                    "v(station, airpressure, humidity, temperature, date, lastupdated) WHERE p.spy()"):
            try:
                cp.execute(sql)
            except psycopg.Error as e:
                assert e.sqlstate in ("55006", "55000"), e       # nyop's guard, or PostgreSQL: "it has triggers"
        assert one(db, "SELECT relkind FROM pg_class WHERE oid = 'weather_a'::regclass") == "r"
        assert set(_capture(db, "weather_a")) == {"nyop_history_update", "nyop_history_delete",
                                                  "nyop_history_truncate"}
        conn.execute("SET nyop.now = '2017-05-08 09:00+00'")
        assert conn.execute(f"SELECT * FROM {view}").fetchall()        # the history keeps what was bought
        db.execute(f"SELECT * FROM {view}")
        conn.execute(f"SELECT nyop_quote('paper_a', 1000, '{PREFS}')")
        assert _ran_as(db, prov) == set()


def test_a_return_rule_on_a_sold_table_without_history_is_refused(db, buyer, make_role):
    """Without history a sold table has no capture triggers, so PostgreSQL 15 alone would let
    the owner turn it into a view once empty and without indexes: nyop's rule guard refuses."""
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_without_history(db, cp)
        _, conn = buyer()
        view = _buy(conn, "nh")
        cp.execute("DELETE FROM p.nh")
        cp.execute("ALTER TABLE p.nh DROP CONSTRAINT nh_pkey")
        cp.execute("VACUUM p.nh")                                   # clears relhasindex
        # nyop's rule guard (55006) -- or PostgreSQL itself (55000) since every sold table carries
        # the maintained measures' triggers (sql/idempotent/055-summaries.sql)
        err = _refused(cp, 'CREATE RULE "_RETURN" AS ON SELECT TO p.nh DO INSTEAD '
                           "SELECT id, v FROM (VALUES (1, 1)) x(id, v) WHERE p.spy()", sqlstates=("55006", "55000"))
        assert err.sqlstate == "55000" or "view" in err.diag.message_hint
        assert one(db, "SELECT relkind FROM pg_class WHERE oid = 'p.nh'::regclass") == "r"
        conn.execute(f"SELECT * FROM {view}")
        db.execute(f"SELECT * FROM {view}")
        assert _ran_as(db, prov) == set()


@pytest.mark.parametrize("rule", [
    "ON UPDATE TO {t} DO INSTEAD NOTHING",
    "ON DELETE TO {t} DO INSTEAD NOTHING",
    "ON INSERT TO {t} DO INSTEAD NOTHING",
    "ON UPDATE TO {t} DO ALSO SELECT p.spy()",
    "ON INSERT TO {t} WHERE p.spy() DO INSTEAD NOTHING",
])
def test_no_rule_on_a_sold_relation(db, make_role, rule):
    """Any rule: DO INSTEAD rules on writes bypass history capture."""
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp)
        _refused(cp, "CREATE RULE r AS " + rule.format(t="p.pe"), names=("p.pe", "'pe'"))
        assert one(db, "SELECT count(*) FROM pg_rewrite WHERE ev_class = 'p.pe'::regclass") == 0
        _captures(db, cp, "p.pe")


def test_no_rule_on_a_history_table(db, make_role):
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp)
        hist = _history(db, "p.pe")
        _refused(db, f"CREATE RULE r AS ON INSERT TO {hist} DO INSTEAD NOTHING", names=(hist,))


# -- nyop's capture triggers: not dropped, disabled, renamed or imitated -----------------------

@pytest.mark.parametrize("who", ["provider", "operator"])
def test_capture_triggers_cannot_be_dropped(db, make_role, who):
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp)
        conn = cp if who == "provider" else db
        before = _capture(db, "p.pe")
        for trg in before:
            _refused(conn, f"DROP TRIGGER {trg} ON p.pe", names=("p.pe", "'pe'", trg))
        # DROP FUNCTION … CASCADE of a capture function takes its trigger with it: refused too
        # (a provider that does not own the function is refused by PostgreSQL itself)
        for fn, owner, *_ in before.values():
            _refused(conn, f"DROP FUNCTION {fn} CASCADE",
                     ("55006", "42501") if who == "provider" else ("55006",))
        assert _capture(db, "p.pe") == before
        _captures(db, cp, "p.pe")


def test_nyop_s_own_ddl_passes_the_guards(db, make_role):
    """Re-registration re-creates the capture triggers and nyop_drop_offering drops them: both mark
    their transaction in nyop.drop_marks, and the guards let them through."""
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp)
        cp.execute("ALTER TABLE p.pe ADD COLUMN c int DEFAULT 7")
        db.execute("SELECT nyop_register_offering('pe', 'p.pe', 100, ARRAY['id'], last_updated => 'lu', "
                   "volatility => '24 hours')")
        capture = _capture(db, "p.pe")
        assert len(capture) == 3 and {v[2] for v in capture.values()} == {"O"}
        _captures(db, cp, "p.pe")
        assert one(db, f"SELECT count(*) FROM {_history(db, 'p.pe')} WHERE c = 7") == 1
        assert one(db, "SELECT count(*) FROM nyop.drop_marks") == 0           # no mark outlives nyop's DDL
        db.execute("SELECT nyop_drop_offering('pe')")
        assert _capture(db, "p.pe") == {}
        assert one(db, "SELECT count(*) FROM nyop.histories") == 0
        for fn, *_ in capture.values():
            if fn.split("(")[0].split(".")[-1] not in SHARED:
                assert one(db, "SELECT to_regprocedure(%s)", (fn,)) is None
        cp.execute("DROP TABLE p.pe")                            # no longer sold: the owner's again


@pytest.mark.parametrize("ddl", [
    "ALTER TABLE p.pe DISABLE TRIGGER nyop_history_update",
    "ALTER TABLE p.pe DISABLE TRIGGER nyop_history_delete",
    "ALTER TABLE p.pe DISABLE TRIGGER nyop_history_truncate",
    "ALTER TABLE p.pe DISABLE TRIGGER ALL",
    "ALTER TABLE p.pe DISABLE TRIGGER USER",
    "ALTER TABLE p.pe ENABLE REPLICA TRIGGER nyop_history_update",      # fires only under replication
    "ALTER TABLE p.pe DISABLE TRIGGER mine, DISABLE TRIGGER nyop_history_delete",
])
def test_capture_triggers_cannot_be_disabled(db, make_role, ddl):
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp)
        cp.execute("CREATE FUNCTION p.noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$")
        cp.execute("CREATE TRIGGER mine AFTER UPDATE ON p.pe FOR EACH STATEMENT EXECUTE FUNCTION p.noop()")
        _refused(cp, ddl, names=("p.pe", "'pe'"))
        assert {v[2] for v in _capture(db, "p.pe").values()} == {"O"}
        _captures(db, cp, "p.pe")


def test_the_owner_keeps_control_of_its_own_triggers(db, make_role):
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp)
        cp.execute("CREATE FUNCTION p.noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$")
        cp.execute("CREATE TRIGGER mine AFTER UPDATE ON p.pe FOR EACH STATEMENT EXECUTE FUNCTION p.noop()")
        cp.execute("ALTER TABLE p.pe DISABLE TRIGGER mine")
        cp.execute("ALTER TABLE p.pe ENABLE REPLICA TRIGGER mine")
        cp.execute("ALTER TRIGGER mine ON p.pe RENAME TO still_mine")
        cp.execute("DROP TRIGGER still_mine ON p.pe")
        cp.execute("ALTER TABLE p.pe ENABLE ALWAYS TRIGGER nyop_history_update")   # fires in every mode: fine
        cp.execute("ALTER TABLE p.pe ENABLE TRIGGER nyop_history_update")
        _captures(db, cp, "p.pe")


def test_capture_triggers_cannot_be_renamed_or_imitated(db, make_role):
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp)
        cp.execute("CREATE FUNCTION p.noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$")
        before = _capture(db, "p.pe")
        _refused(cp, "ALTER TRIGGER nyop_history_update ON p.pe RENAME TO mine", names=("p.pe",))
        _refused(cp, "CREATE TRIGGER nyop_history_extra AFTER UPDATE ON p.pe "
                     "FOR EACH STATEMENT EXECUTE FUNCTION p.noop()", names=("p.pe",))
        cp.execute("CREATE TRIGGER mine AFTER UPDATE ON p.pe FOR EACH STATEMENT EXECUTE FUNCTION p.noop()")
        _refused(cp, "ALTER TRIGGER mine ON p.pe RENAME TO nyop_history_zz", names=("p.pe",))
        # a second trigger on nyop's own capture function (which the owner may execute from 0.3.0 on)
        fn = before["nyop_history_delete"][0]
        _refused(cp, f"CREATE TRIGGER again AFTER DELETE ON p.pe REFERENCING OLD TABLE AS nyop_old "
                     f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}", ("55006", "42501"))
        assert _capture(db, "p.pe") == before
        assert one(db, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'p.pe'::regclass "
                       "AND tgname NOT LIKE 'nyop_measure_%'") == 4       # (the maintained measures' aside)
        # pg_restore re-creates the three capture triggers (with a function of schema nyop, on a relation
        # with history); nothing else may take their names, e.g. on a sold table without history
        _sold_without_history(db, cp)
        _refused(cp, "CREATE TRIGGER nyop_history_update AFTER UPDATE ON p.nh "
                     "FOR EACH STATEMENT EXECUTE FUNCTION p.noop()", names=("p.nh",))


ALTER_FUNCTION = [   # (ddl, whether PostgreSQL itself refuses the owner: it lacks CREATE on schema nyop)
    ("ALTER FUNCTION {fn} SECURITY INVOKER", False),
    ("ALTER FUNCTION {fn} SET search_path = p, pg_catalog", False),
    ("ALTER FUNCTION {fn} RESET ALL", False),
    ("ALTER FUNCTION {fn} COST 1", False),
    ("ALTER ROUTINE {fn} SECURITY INVOKER", False),
    ("ALTER FUNCTION {fn} RENAME TO mine", True),
    ("ALTER FUNCTION {fn} SET SCHEMA p", True),
    ("ALTER FUNCTION {fn} OWNER TO {other}", True),
]


@pytest.mark.parametrize("ddl, pg_refuses", ALTER_FUNCTION)
def test_capture_functions_cannot_be_altered(db, make_role, ddl, pg_refuses):
    """Not by their owner (the table owner, from 0.3.0 on; PostgreSQL refuses anyone else), nor by
    the operator outside nyop's own transaction."""
    prov, cp = _provider(db, make_role)
    other, _ = make_role("other")
    db.execute(f"GRANT {_quoted(other)} TO {_quoted(prov)}; GRANT CREATE ON SCHEMA p TO {_quoted(other)}")
    with cp:
        _sold_with_history(db, cp)
        before = _capture(db, "p.pe")
        for fn, owner, *_ in before.values():
            sql = ddl.format(fn=fn, other=_quoted(other))
            _refused(cp, sql, ("55006",) if _per_relation(db, "p.pe") and not pg_refuses else ("42501", "55006"))
            _refused(db, sql, names=("p.pe", "'pe'"))
        assert _capture(db, "p.pe") == before
        assert all(v[3] for v in before.values())                    # SECURITY DEFINER, as nyop made them
        _captures(db, cp, "p.pe")


# -- a new owner: the capture follows ------------------------------------------------------------

def test_a_new_table_owner_gets_the_capture(db, make_role):
    prov, cp = _provider(db, make_role)
    heir, hdsn = make_role("heir")
    with cp:
        _sold_with_history(db, cp)
        hist = _history(db, "p.pe")
        per_relation = _per_relation(db, "p.pe")
        before = _capture(db, "p.pe")
        db.execute(f"GRANT USAGE ON SCHEMA p TO {_quoted(heir)}")
        db.execute(f"ALTER TABLE p.pe OWNER TO {_quoted(heir)}")
        after = _capture(db, "p.pe")
        if per_relation:
            assert {v[1] for v in after.values()} == {_quoted(heir) if not heir.islower() else heir}
            assert one(db, "SELECT has_table_privilege(%s, %s, 'INSERT')", (heir, hist))
            assert one(db, "SELECT has_schema_privilege(%s, 'nyop', 'USAGE')", (heir,))
            assert not one(db, "SELECT has_table_privilege(%s, %s, 'INSERT')", (prov, hist))
        else:                                                         # the shared functions stay nyop's
            assert after == before
        with psycopg.connect(hdsn, autocommit=True) as ch:
            _captures(db, ch, "p.pe")
        # and back, by the operator; then to the operator itself
        db.execute(f"ALTER TABLE p.pe OWNER TO {_quoted(prov)}")
        _captures(db, cp, "p.pe")
        db.execute("ALTER TABLE p.pe OWNER TO CURRENT_USER")
        if per_relation:
            assert {v[1] for v in _capture(db, "p.pe").values()} == {one(db, "SELECT current_user::regrole::text")}
            assert not one(db, "SELECT has_table_privilege(%s, %s, 'INSERT')", (prov, hist))
        _captures(db, db, "p.pe")


def test_reassign_owned_then_sync(db, make_role):
    """REASSIGN OWNED fires no event trigger: table and capture functions move together, and until
    the operator runs nyop._sync_capture_owner the new owner's writes fail (never lose history)."""
    prov, cp = _provider(db, make_role)
    heir, hdsn = make_role("heir")
    with cp:
        _sold_with_history(db, cp)
        hist = _history(db, "p.pe")
        count = one(db, f"SELECT count(*) FROM {hist}")
        db.execute(f"GRANT USAGE ON SCHEMA p TO {_quoted(heir)}")
        db.execute(f"REASSIGN OWNED BY {_quoted(prov)} TO {_quoted(heir)}")
        with psycopg.connect(hdsn, autocommit=True) as ch:
            try:
                ch.execute("UPDATE p.pe SET a = 0, lu = '2017-05-07 13:00+00' WHERE id = 2")
                assert one(db, f"SELECT count(*) FROM {hist}") == count + 1     # captured (shared functions)
            except psycopg.Error as e:
                assert e.sqlstate == "42501", e                                  # refused, not lost
                assert one(db, f"SELECT count(*) FROM {hist}") == count
            db.execute("SELECT nyop._sync_capture_owner('p.pe')")
            _captures(db, ch, "p.pe")


def test_the_fixture_teardown_works_for_a_provider_owning_a_sold_table(server, dbname, db):
    """conftest.make_role's teardown: REASSIGN OWNED BY role TO CURRENT_USER; DROP OWNED; DROP ROLE."""
    made = []

    def make_role(label):                      # ours, so that this test runs the teardown itself
        name = f"{label}_{uuid.uuid4().hex[:8]}"
        db.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD 'nyop-test'")
        made.append(name)
        params = conninfo.conninfo_to_dict(server.dsn_for(dbname, user=name))
        params["password"] = "nyop-test"
        return name, conninfo.make_conninfo(**params)

    try:
        prov, cp = _provider(db, make_role)
        _sold_with_history(db, cp)
        _sold_without_history(db, cp)
        cp.close()
        db.execute(f"REASSIGN OWNED BY {_quoted(prov)} TO CURRENT_USER")
        db.execute(f"DROP OWNED BY {_quoted(prov)}")
        db.execute(f"DROP ROLE {_quoted(prov)}")
        made.clear()
    finally:
        for name in made:
            db.execute(f"DROP OWNED BY {_quoted(name)} CASCADE")   # nyop's guards may refuse: then we see it
            db.execute(f"DROP ROLE {_quoted(name)}")
    assert {v[2] for v in _capture(db, "p.pe").values()} == {"O"}
    _captures(db, db, "p.pe")


# -- logged, and safe for nyop to read -------------------------------------------------------------

def test_a_sold_table_stays_logged(db, make_role):
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp)
        _sold_without_history(db, cp)
        for rel, off in (("p.pe", "'pe'"), ("p.nh", "'nh'")):
            _refused(cp, f"ALTER TABLE {rel} SET UNLOGGED", names=(rel, off))
        _refused(cp, "CREATE UNLOGGED TABLE p.child () INHERITS (p.nh)", names=("p.nh",))
        hist = _history(db, "p.pe")
        _refused(db, f"ALTER TABLE {hist} SET UNLOGGED", names=(hist,))
        assert db.execute("SELECT DISTINCT relpersistence FROM pg_class WHERE oid IN "
                          "('p.pe'::regclass, 'p.nh'::regclass, %s::regclass)", (hist,)).fetchall() == [("p",)]


@pytest.mark.parametrize("make_type, ddl", [
    ("CREATE TYPE p.mood AS ENUM ('sad', 'happy')", "ALTER TABLE p.pe ADD COLUMN m p.mood"),
    ("CREATE DOMAIN p.pos AS int CHECK (VALUE > 0)", "ALTER TABLE p.pe ALTER COLUMN b TYPE p.pos"),
    ("CREATE TYPE p.pair AS (x int, y int)", "ALTER TABLE p.pe ADD COLUMN c p.pair"),
    ("CREATE TYPE p.span AS RANGE (subtype = int)", "ALTER TABLE p.pe ADD COLUMN r p.span"),
    ("CREATE TYPE p.mood AS ENUM ('sad', 'happy')", "ALTER TABLE p.pe ADD COLUMN ms p.mood[]"),
    ("CREATE TABLE p.other (x int)", "ALTER TABLE p.pe ADD COLUMN o p.other"),       # a table's row type
])
def test_a_column_type_of_an_ordinary_role_is_refused(db, make_role, make_type, ddl):
    """nyop reads sold relations with its own rights: a provider's type (its casts, its I/O through
    domains, its range functions) must not become a column type of one (catalog.SAFE_SQL's rule)."""
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp)
        cp.execute(make_type)
        _refused(cp, ddl, ("42501",), names=("p.pe", "'pe'"))
        assert one(db, "SELECT nyop._relation_is_safe('p.pe')")
        cp.execute("ALTER TABLE p.pe ADD COLUMN fine int")                 # built-in types stay allowed
        cp.execute("ALTER TABLE p.pe DROP COLUMN fine")                    # and it is not sold
        _captures(db, cp, "p.pe")


def _foreign_server(db, prov):
    db.execute("CREATE FOREIGN DATA WRAPPER nyop_test_fdw")
    db.execute("CREATE SERVER nyop_test_srv FOREIGN DATA WRAPPER nyop_test_fdw")
    db.execute(f"GRANT USAGE ON FOREIGN SERVER nyop_test_srv TO {_quoted(prov)}")


def test_an_unsafe_child_is_refused(db, make_role):
    """A foreign table of the provider under a sold relation (INHERIT, ATTACH PARTITION, PARTITION OF,
    at any depth) would run its owner's choices with nyop's rights when nyop reads the parent."""
    prov, cp = _provider(db, make_role)
    _foreign_server(db, prov)
    with cp:
        _sold_with_history(db, cp)
        cp.execute("CREATE TABLE p.pp (id int, v int) PARTITION BY RANGE (id)")
        cp.execute("CREATE TABLE p.pp1 PARTITION OF p.pp FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (id)")
        cp.execute("CREATE TABLE p.pp11 PARTITION OF p.pp1 FOR VALUES FROM (0) TO (50)")
        cp.execute("INSERT INTO p.pp SELECT i, i FROM generate_series(1, 40) i")
        db.execute("SELECT nyop_register_offering('pp', 'p.pp', 100, ARRAY['id'])")
        cp.execute("CREATE FOREIGN TABLE p.f (id int NOT NULL, a int, b int, lu timestamptz NOT NULL) "
                   "SERVER nyop_test_srv")
        _refused(cp, "ALTER FOREIGN TABLE p.f INHERIT p.pe", ("42501",), names=("p.pe",))
        _refused(cp, "CREATE FOREIGN TABLE p.f2 () INHERITS (p.pe) SERVER nyop_test_srv", ("42501",), names=("p.pe",))
        _refused(cp, "CREATE FOREIGN TABLE p.fp PARTITION OF p.pp FOR VALUES FROM (100) TO (200) "
                     "SERVER nyop_test_srv", ("42501",), names=("p.pp",))
        cp.execute("CREATE FOREIGN TABLE p.fq (id int, v int) SERVER nyop_test_srv")
        _refused(cp, "ALTER TABLE p.pp ATTACH PARTITION p.fq FOR VALUES FROM (100) TO (200)", ("42501",),
                 names=("p.pp",))
        _refused(cp, "ALTER TABLE p.pp1 ATTACH PARTITION p.fq FOR VALUES FROM (50) TO (100)", ("42501",),
                 names=("p.pp",))                                 # a grandchild of the sold relation
        cp.execute("CREATE TABLE p.child () INHERITS (p.pe)")       # a table child is fine
        cp.execute("CREATE TABLE p.pp12 PARTITION OF p.pp1 FOR VALUES FROM (50) TO (100)")
        assert one(db, "SELECT nyop._relation_is_safe('p.pe') AND nyop._relation_is_safe('p.pp')")


def test_a_sold_view_stays_a_superusers(db, make_role):
    """A view may be sold only if a superuser owns it: handing it to a provider is refused."""
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_without_history(db, cp)
        db.execute("CREATE VIEW public.sv AS SELECT id, v FROM p.nh")
        db.execute("SELECT nyop_register_offering('sv', 'public.sv', 100, ARRAY['id'])")
        _refused(db, f"ALTER VIEW public.sv OWNER TO {_quoted(prov)}", ("42501",), names=("sv", "'sv'"))
        _refused(db, f"ALTER TABLE public.sv OWNER TO {_quoted(prov)}", ("42501",), names=("sv",))
        assert one(db, "SELECT nyop._relation_is_safe('public.sv')")
        # REASSIGN OWNED fires no event trigger: nyop's Python refuses the view on its next use, and its
        # new owner cannot redefine it to run its code as the buyers who read their views
        superuser, _ = make_role("superuser")
        db.execute(f"ALTER ROLE {_quoted(superuser)} SUPERUSER; ALTER VIEW public.sv OWNER TO {_quoted(superuser)}")
        db.execute(f"REASSIGN OWNED BY {_quoted(superuser)} TO {_quoted(prov)}")
        db.execute(f"GRANT CREATE ON SCHEMA public TO {_quoted(prov)}")
        _refused(cp, "CREATE OR REPLACE VIEW public.sv AS SELECT id, v FROM p.nh WHERE p.spy()", ("42501",),
                 names=("sv",))
        _refused(db, """SELECT nyop_quote('sv', 100, '{"completeness": 1}')""", ("42501",))
        assert _ran_as(db, prov) == set()


def test_a_column_type_stays_a_superusers(db, make_role):
    prov, cp = _provider(db, make_role)
    with cp:
        db.execute("CREATE TYPE public.level AS ENUM ('low', 'high')")
        db.execute("CREATE TABLE public.lv (id int PRIMARY KEY, l public.level, n int)")
        db.execute("INSERT INTO public.lv VALUES (1, 'low', 1), (2, 'high', NULL)")
        db.execute("SELECT nyop_register_offering('lv', 'public.lv', 100, ARRAY['id'])")
        _refused(db, f"ALTER TYPE public.level OWNER TO {_quoted(prov)}", ("42501",), names=("lv",))
        assert one(db, "SELECT nyop._relation_is_safe('public.lv')")


def test_relation_is_safe_agrees_with_the_python_rule(db, make_role):
    """nyop._relation_is_safe is catalog.SAFE_SQL's rule, with children checked at every depth."""
    from nyop_server.services.catalog import SAFE_SQL
    prov, cp = _provider(db, make_role)
    _foreign_server(db, prov)
    with cp:
        cp.execute("CREATE TYPE p.mood AS ENUM ('sad'); CREATE TABLE p.t (id int); CREATE TABLE p.te (m p.mood)")
        cp.execute("CREATE VIEW p.v AS SELECT * FROM p.t; CREATE MATERIALIZED VIEW p.m AS SELECT * FROM p.t")
        cp.execute("CREATE FOREIGN TABLE p.f (id int) SERVER nyop_test_srv")
        cp.execute("CREATE TABLE p.par (id int); CREATE FOREIGN TABLE p.fc () INHERITS (p.par) SERVER nyop_test_srv")
        cp.execute("CREATE TABLE p.pp (id int) PARTITION BY RANGE (id); "
                   "CREATE TABLE p.pp1 PARTITION OF p.pp FOR VALUES FROM (0) TO (10)")
        cp.execute("CREATE TABLE p.gp (id int) PARTITION BY RANGE (id); "
                   "CREATE TABLE p.gp1 PARTITION OF p.gp FOR VALUES FROM (0) TO (10) PARTITION BY RANGE (id); "
                   "CREATE FOREIGN TABLE p.gp11 PARTITION OF p.gp1 FOR VALUES FROM (0) TO (5) SERVER nyop_test_srv")
        db.execute("CREATE VIEW public.sv AS SELECT * FROM p.t; CREATE TABLE public.st (id int, a int[], t text)")
        expected = {"p.t": True, "p.te": False, "p.v": False, "p.m": True, "p.f": False, "p.par": False,
                    "p.pp": True, "public.sv": True, "public.st": True, "p.log": True}
        for rel, safe in expected.items():
            python = one(db, "SELECT " + SAFE_SQL % "%s::regclass::oid", (rel,))
            assert one(db, "SELECT nyop._relation_is_safe(%s)", (rel,)) is python is safe, rel
        # a foreign grandchild: reading p.gp reads it, so the SQL rule refuses what SAFE_SQL missed
        assert one(db, "SELECT " + SAFE_SQL % "%s::regclass::oid", ("p.gp",)) is True
        assert one(db, "SELECT nyop._relation_is_safe('p.gp')") is False


def test_history_tables_stay_a_superusers(db, make_role):
    prov, cp = _provider(db, make_role)
    with cp:
        _sold_with_history(db, cp)
        hist = _history(db, "p.pe")
        _refused(db, f"ALTER TABLE {hist} OWNER TO {_quoted(prov)}", ("42501",), names=(hist,))


# -- row-level security: nyop reads with rights that bypass it --------------------------------------

def test_row_level_security_policies_never_run_as_the_operator_or_a_buyer(db, buyer, make_role):
    """A provider may put policies on its table (FORCE included): nyop reads as the view owner,
    a superuser, which bypasses row-level security, so a policy that logs current_user logs
    only the provider (its own reads and writes, and history capture as the table owner)."""
    prov, cp = _provider(db, make_role)
    bname, conn = buyer()
    with cp:
        _sold_with_history(db, cp)
        _sold_without_history(db, cp)
        for t in ("pe", "nh"):
            cp.execute(f"ALTER TABLE p.{t} ENABLE ROW LEVEL SECURITY; ALTER TABLE p.{t} FORCE ROW LEVEL SECURITY")
            cp.execute(f"CREATE POLICY watch ON p.{t} USING (p.spy())")
        cp.execute("SELECT count(*) FROM p.nh")                        # the policy works: it logs the provider
        assert one(db, "SELECT count(*) FROM p.log WHERE who = %s", (prov,)) > 0
        db.execute("TRUNCATE p.log")
        conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
        conn.execute("""SELECT nyop_quote('nh', 100, '{"completeness": 1}')""")
        conn.execute("SELECT nyop_quality('pe')")
        nh_view = _buy(conn, "nh")
        pe_view = _buy(conn, "pe", '{"timeliness": 1}')
        db.execute("SELECT nyop_quality('nh'), nyop_quality('pe')")
        cp.execute("UPDATE p.pe SET a = a + 1, lu = '2017-05-07 13:00+00' WHERE id <= 3")   # captured as owner
        cp.execute("DELETE FROM p.nh WHERE id = 20")
        for c in (conn, db):
            c.execute("SET nyop.now = '2017-05-08 09:00+00'")
            assert len(c.execute(f"SELECT * FROM {nh_view}").fetchall()) == 19
            assert c.execute(f"SELECT * FROM {pe_view}").fetchall()
        assert _ran_as(db, prov) == set()
