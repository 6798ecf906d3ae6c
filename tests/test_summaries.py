"""Maintained measures (issue 12): rows, non-null cells and timeliness of a sold table kept up
to date by statement-level triggers, folded lazily, read in one statement. They must equal a
fresh scan of the table after any mix of writes, committed or not, from any session."""

from __future__ import annotations

import json
import random
import threading

import psycopg
import pytest

from conftest import one

NOWS = ("2017-05-06 00:00+00", "2017-05-07 13:17:11.5+00", "2017-05-08 12:00+00", "2017-05-09 06:30+00",
        "2020-01-01 00:00+00")   # (all in the past: nyop.now never runs ahead of the clock)


def quality(conn, offering, source=None, now=None):
    if now:
        conn.execute("SELECT set_config('nyop.now', %s, false)", (now,))
    conn.execute("SELECT set_config('nyop.measures', %s, false)", (source or "",))
    try:
        return one(conn, "SELECT nyop_quality(%s)", (offering,))
    finally:
        conn.execute("SELECT set_config('nyop.measures', '', false)")


def check(m, s, now=None):
    """Same counts; the same timeliness to float rounding (the summary sums exact integers)."""
    assert (m["rows"], m["cells"], m["nonnull_cells"]) == (s["rows"], s["cells"], s["nonnull_cells"]), (now, m, s)
    if s["timeliness"] is None:
        assert m["timeliness"] is None, (now, m, s)
    else:
        assert m["timeliness"] == pytest.approx(s["timeliness"], abs=1e-12), (now, m, s)


def assert_same(conn, offering, nows=NOWS):
    """Maintained measures equal a fresh scan, at several "now"s."""
    for now in nows:
        check(quality(conn, offering, None, now), quality(conn, offering, "scan", now), now)


def maintained(conn, table) -> bool:
    return bool(one(conn, "SELECT count(*) FROM nyop.measure_state WHERE relation = %s::regclass AND NOT stale",
                    (table,)))


LU_VALUES = ["'2017-05-07 00:00+00'::timestamptz + make_interval(secs => (%s * 37 + g) %% 180000)",
             "NULL", "'infinity'", "'-infinity'", "'2017-05-08 12:00+00'", "now()"]


def make_table(conn, name="m", lu_type="timestamptz", rows=300):
    conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, a int, b text, c float8, lu {lu_type})")
    conn.execute(f"INSERT INTO {name} SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE g END, "
                 f"CASE WHEN g % 5 = 0 THEN NULL ELSE 'x' || g END, CASE WHEN g % 7 = 0 THEN NULL ELSE g / 2.0 END, "
                 f"'2017-05-07 00:00+00'::timestamptz + make_interval(secs => g * 311) FROM generate_series(1, {rows}) g")
    conn.execute(f"SELECT nyop_register_offering('{name}', '{name}', 1000, ARRAY['id'], last_updated => 'lu', "
                 "volatility => '24 hours')")


def random_write(conn, rng: random.Random, table="m", next_id=None):
    """One random statement: an INSERT, UPDATE, DELETE (of random subsets), rarely a TRUNCATE."""
    op = rng.choices(["insert", "update", "update_lu", "delete", "truncate", "noop"], [4, 3, 3, 2, 0.3, 0.5])[0]
    k = rng.randrange(1, 5)
    lu = rng.choice(LU_VALUES)
    if "%s" in lu:
        lu = lu % rng.randrange(1000)
    if op == "insert":
        start = next_id()
        n = rng.randrange(1, 80)
        conn.execute(f"INSERT INTO {table} SELECT g, CASE WHEN g % {k + 1} = 0 THEN NULL ELSE g END, "
                     f"CASE WHEN g % {k + 2} = 0 THEN NULL ELSE 'y' END, NULL, {lu} "
                     f"FROM generate_series({start}, {start + n - 1}) g")
    elif op == "update":
        conn.execute(f"UPDATE {table} SET a = CASE WHEN a IS NULL THEN id ELSE NULL END, "
                     f"c = CASE WHEN id % 2 = 0 THEN NULL ELSE 1.5 END WHERE id % {k + 3} = {rng.randrange(k + 3)}")
    elif op == "update_lu":
        conn.execute(f"UPDATE {table} SET lu = {lu.replace('g)', 'id)').replace('+ g', '+ id')}, "
                     f"b = NULL WHERE id % {k + 2} = {rng.randrange(k + 2)}")
    elif op == "delete":
        conn.execute(f"DELETE FROM {table} WHERE id % {k + 4} = {rng.randrange(k + 4)}")
    elif op == "truncate":
        conn.execute(f"TRUNCATE {table}")
    else:
        conn.execute(f"UPDATE {table} SET a = a WHERE id < 0")


def counter(start=100000):
    lock = threading.Lock()
    state = {"n": start}

    def next_id():
        with lock:
            state["n"] += 1000
            return state["n"]
    return next_id


def test_seeded_at_registration_and_equal_to_a_scan(db):
    make_table(db)
    assert maintained(db, "m")
    assert one(db, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'm'::regclass AND tgname LIKE 'nyop_measure_%'") == 4
    assert_same(db, "m")


def test_random_writes_out_of_transactions(db):
    make_table(db)
    rng = random.Random(12)
    nid = counter()
    for step in range(60):
        random_write(db, rng, next_id=nid)
        if step % 7 == 0:
            assert_same(db, "m", nows=NOWS[1:3])
        if step % 11 == 0:
            db.execute("SELECT nyop._measure_fold('m'::regclass)")
    assert_same(db, "m")
    db.execute("SELECT nyop._measure_fold('m'::regclass)")
    assert one(db, "SELECT count(*) FROM nyop.measure_deltas") == 0
    assert_same(db, "m")


def test_random_writes_in_transactions_rollback_leaves_no_trace(db, server, dbname):
    make_table(db)
    rng = random.Random(7)
    nid = counter()
    with psycopg.connect(server.dsn_for(dbname)) as tx:       # not autocommit: explicit transactions
        for rnd in range(12):
            for _ in range(rng.randrange(1, 6)):
                random_write(tx, rng, next_id=nid)
                if rng.random() < 0.3:
                    tx.execute("SAVEPOINT s")
                    random_write(tx, rng, next_id=nid)
                    if rng.random() < 0.5:
                        tx.execute("ROLLBACK TO SAVEPOINT s")
                if rng.random() < 0.2:
                    tx.execute("SELECT nyop._measure_fold('m'::regclass)")     # a writer folding mid-transaction
                # the writer sees its own uncommitted writes in the measures, as a scan would
                assert_same(tx, "m", nows=NOWS[2:3])
            if rng.random() < 0.4:
                tx.rollback()
            else:
                tx.commit()
            assert_same(db, "m", nows=NOWS[1:4])
    assert_same(db, "m")


def test_concurrent_writers_and_readers(db, server, dbname):
    make_table(db, rows=2000)
    nid = counter()
    errors = []

    def writer(seed):
        rng = random.Random(seed)
        try:
            with psycopg.connect(server.dsn_for(dbname), autocommit=True) as c:
                for _ in range(25):
                    with c.transaction(force_rollback=rng.random() < 0.3):
                        for _ in range(rng.randrange(1, 4)):
                            op = rng.random()
                            if op < 0.1:        # a fold inside a writer's transaction
                                c.execute("SELECT nyop._measure_fold('m'::regclass)")
                            else:
                                random_write(c, rng, next_id=nid)
        except psycopg.errors.DeadlockDetected:
            pass                  # the provider's own rows, updated by two writers in opposite orders
        except Exception as e:    # pragma: no cover
            errors.append(e)

    def reader(seed):
        try:
            with psycopg.connect(server.dsn_for(dbname), autocommit=True) as c:
                c.execute("SET nyop.now = '2017-05-08 12:00+00'")
                for _ in range(40):
                    m = one(c, "SELECT nyop_quality('m')")       # folds now and then
                    assert m["rows"] >= 0 and 0 <= m["nonnull_cells"] <= m["cells"]
        except Exception as e:    # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(4)] + \
        [threading.Thread(target=reader, args=(s,)) for s in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert_same(db, "m")
    db.execute("SELECT nyop._measure_fold('m'::regclass)")
    assert_same(db, "m")


@pytest.mark.parametrize("lu_type", ["date", "timestamp"])
def test_date_and_timestamp_last_updated(db, lu_type):
    make_table(db, lu_type=lu_type)
    rng = random.Random(3)
    nid = counter()
    for _ in range(20):
        random_write(db, rng, next_id=nid)
    db.execute("SET TimeZone = 'Pacific/Kiritimati'")        # read as UTC, whatever the reader's zone
    assert_same(db, "m")


def test_without_last_updated_column(db):
    db.execute("CREATE TABLE n (id int PRIMARY KEY, a int, b text)")
    db.execute("INSERT INTO n SELECT g, NULLIF(g % 4, 0), NULLIF('z' || g % 3, 'z0') FROM generate_series(1, 100) g")
    db.execute("SELECT nyop_register_offering('n', 'n', 10, ARRAY['id'])")
    db.execute("UPDATE n SET a = NULL WHERE id < 30")
    db.execute("DELETE FROM n WHERE id > 90")
    m, s = quality(db, "n"), quality(db, "n", "scan")
    check(m, s)
    assert m["timeliness"] is None


def test_read_only_and_repeatable_read_readers(db, server, dbname):
    make_table(db)
    db.execute("UPDATE m SET a = NULL, lu = now() WHERE id < 100")
    expected = quality(db, "m", "scan", NOWS[2])
    with psycopg.connect(server.dsn_for(dbname)) as c:
        c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        c.execute(f"SET nyop.now = '{NOWS[2]}'")
        check(one(c, "SELECT nyop_quality('m')"), expected)
        db.execute("DELETE FROM m WHERE id > 250")             # committed meanwhile: not in this snapshot
        check(one(c, "SELECT nyop_quality('m')"), expected)
    assert_same(db, "m")


def test_a_table_rewrite_reseeds(db):
    make_table(db)
    db.execute("ALTER TABLE m ALTER COLUMN a TYPE bigint USING coalesce(a, 0)")     # no DML: no trigger
    assert not maintained(db, "m")
    assert_same(db, "m")
    assert maintained(db, "m")                                 # re-seeded by the first read


def test_quotes_read_them_without_scanning(db, buyer):
    make_table(db, rows=500)
    db.execute("SELECT nyop_set_criterion('m', 'completeness', 0.5)")
    db.execute("SELECT nyop_set_criterion('m', 'timeliness', 0.5)")
    db.execute("UPDATE m SET b = NULL WHERE id < 50")
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{NOWS[2]}'")
    prefs = json.dumps({"completeness": 0.5, "timeliness": 0.5})
    q = one(conn, "SELECT nyop_quote('m', 600, %s)", (prefs,))
    s = quality(db, "m", "scan", NOWS[2])
    assert q["quality"]["rows"] == s["rows"]
    assert q["quality"]["completeness"] == pytest.approx(s["completeness"], abs=1e-12)
    assert q["quality"]["timeliness"] == pytest.approx(s["timeliness"], abs=1e-12)
    # the table's statistics show no sequential scan for the quote or the bid
    scans = lambda: one(db, "SELECT seq_scan FROM pg_stat_user_tables WHERE relid = 'm'::regclass")
    db.execute("SELECT pg_stat_force_next_flush()")
    before = scans()
    one(conn, "SELECT nyop_quote('m', 600, %s)", (prefs,))
    db.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT pg_stat_force_next_flush()")
    assert scans() == before


def test_re_registration_with_more_columns_and_drop(db):
    make_table(db)
    db.execute("ALTER TABLE m ADD COLUMN d int DEFAULT 5")
    db.execute("UPDATE m SET d = NULL WHERE id < 20")
    db.execute("SELECT nyop_register_offering('m', 'm', 1000, ARRAY['id'], last_updated => 'lu', "
               "volatility => '24 hours')")
    assert one(db, "SELECT columns FROM nyop.measure_state WHERE relation = 'm'::regclass") == ["id", "a", "b", "c", "d"]
    assert_same(db, "m")
    db.execute("SELECT nyop_drop_offering('m')")
    assert one(db, "SELECT count(*) FROM nyop.measure_state") == 0
    assert one(db, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'm'::regclass AND tgname LIKE 'nyop_%'") == 0
    db.execute("INSERT INTO m (id) VALUES (99999)")              # the provider's writes carry on
    assert one(db, "SELECT count(*) FROM nyop.measure_deltas") == 0


def test_partitioned_tables_and_views_keep_the_scan(db):
    db.execute("CREATE TABLE pt (id int, a int) PARTITION BY RANGE (id)")
    db.execute("CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (1000)")
    db.execute("INSERT INTO pt SELECT g, NULLIF(g % 2, 0) FROM generate_series(1, 100) g")
    db.execute("SELECT nyop_register_offering('pt', 'pt', 10, ARRAY['id'])")
    db.execute("CREATE MATERIALIZED VIEW mv AS SELECT * FROM pt")
    db.execute("SELECT nyop_register_offering('mv', 'mv', 10, ARRAY['id'])")
    assert one(db, "SELECT count(*) FROM nyop.measure_state") == 0
    check(quality(db, "pt"), quality(db, "pt", "scan"))
    assert quality(db, "mv")["nonnull_cells"] == 150


# -- the maintenance runs with the table owner's rights, and is guarded ------------------------

def _provider_table(db, make_role):
    prov, dsn = make_role("provider")
    db.execute(f'CREATE SCHEMA p AUTHORIZATION "{prov}"')
    cp = psycopg.connect(dsn, autocommit=True)
    cp.execute("CREATE TABLE p.t (id int PRIMARY KEY, a int, lu timestamptz)")
    cp.execute("INSERT INTO p.t SELECT g, g, '2017-05-07' FROM generate_series(1, 20) g")
    cp.execute("CREATE TABLE p.other (id int PRIMARY KEY)")
    db.execute("SELECT nyop_register_offering('pt', 'p.t', 100, ARRAY['id'], last_updated => 'lu', "
               "volatility => '1 day')")
    return prov, cp


def test_maintenance_runs_as_the_owner_who_can_only_append_its_own(db, make_role):
    prov, cp = _provider_table(db, make_role)
    with cp:
        owners = db.execute("SELECT DISTINCT p.proowner::regrole::text, p.prosecdef FROM pg_trigger t "
                            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = 'p.t'::regclass "
                            "AND t.tgname LIKE 'nyop_measure_%'").fetchall()
        assert owners == [(f'"{prov}"' if not prov.islower() else prov, True)]
        cp.execute("UPDATE p.t SET a = NULL WHERE id < 5")
        assert_same(db, "pt")
        # a delta for a table the owner does not own is refused (row-level security); the
        # folded summary, values and buckets are not the owner's to write at all
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cp.execute("INSERT INTO nyop.measure_deltas (relation, rows) VALUES ('pg_class'::regclass, 5)")
        for t in ("measure_state", "measure_values", "measure_buckets"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                cp.execute(f"DELETE FROM nyop.{t}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cp.execute("SELECT * FROM nyop.measure_deltas")


@pytest.mark.parametrize("ddl", [
    "DROP TRIGGER nyop_measure_insert ON p.t",
    "ALTER TABLE p.t DISABLE TRIGGER nyop_measure_update",
    "ALTER TRIGGER nyop_measure_delete ON p.t RENAME TO mine",
])
def test_guards_keep_the_measure_triggers(db, make_role, ddl):
    prov, cp = _provider_table(db, make_role)
    with cp:
        with pytest.raises(psycopg.errors.ObjectInUse):
            cp.execute(ddl)
        fn = one(db, "SELECT tgfoid::regprocedure::text FROM pg_trigger WHERE tgrelid = 'p.t'::regclass "
                     "AND tgname = 'nyop_measure_insert'")
        with pytest.raises(psycopg.errors.ObjectInUse):
            cp.execute(f"ALTER FUNCTION {fn} SECURITY INVOKER")
        with pytest.raises(psycopg.errors.ObjectInUse):
            cp.execute("CREATE TRIGGER nyop_measure_x AFTER INSERT ON p.t FOR EACH STATEMENT "
                       "EXECUTE FUNCTION suppress_redundant_updates_trigger()")


def test_measure_functions_follow_the_table_owner(db, make_role):
    prov, cp = _provider_table(db, make_role)
    with cp:
        other, odsn = make_role("heir")
        db.execute(f'ALTER TABLE p.t OWNER TO "{other}"')
        owners = {r[0] for r in db.execute("SELECT DISTINCT p.proowner::regrole::text FROM pg_trigger t "
                                           "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = 'p.t'::regclass "
                                           "AND t.tgname LIKE 'nyop_measure_%'").fetchall()}
        assert owners == {f'"{other}"' if not other.islower() else other}
        db.execute(f'GRANT USAGE ON SCHEMA p TO "{other}"')
        with psycopg.connect(odsn, autocommit=True) as o:
            o.execute("INSERT INTO p.t VALUES (100, NULL, now())")
        assert_same(db, "pt")


def test_timeliness_is_exact_at_the_kinks(db):
    """Rows at, just before and just after now − v and now (to the microsecond), 'infinity',
    '-infinity' and NULL: the buckets holding a kink are read value by value."""
    db.execute("CREATE TABLE k (id int PRIMARY KEY, a int, lu timestamptz)")
    now = "2017-05-08 12:00:00.123456+00"
    vals = []
    for base in (f"'{now}'::timestamptz", f"'{now}'::timestamptz - interval '90 minutes'"):
        for us in (-1_000_000, -2, -1, 0, 1, 2, 999_999):
            vals.append(f"{base} + make_interval(secs => {us} / 1e6)")
    vals += ["'infinity'", "'-infinity'", "NULL", "'2017-05-08 11:15+00'", "'1960-01-01'", "'2200-01-01'"]
    for i, v in enumerate(vals):
        db.execute(f"INSERT INTO k VALUES ({i}, {i}, {v})")
    db.execute("SELECT nyop_register_offering('k', 'k', 10, ARRAY['id'], last_updated => 'lu', "
               "volatility => '90 minutes')")
    db.execute("INSERT INTO k SELECT 1000 + id, NULL, lu FROM k WHERE lu IS NOT NULL AND id < 1000")   # pending deltas
    assert_same(db, "k", nows=(now, "2017-05-08 10:30:00.123456+00", "2017-05-08 10:30:00.123457+00",
                               "2017-05-08 11:59:59.999999+00"))
    db.execute("SELECT nyop._measure_fold('k'::regclass)")
    assert_same(db, "k", nows=(now, "2017-05-08 10:30:00.123456+00"))
