"""Partitioned tables (issue 13): history is captured whichever table a write names — the parent,
a partition, a partition attached later — and a detached partition's rows stay as old versions."""

import psycopg
import pytest

from conftest import one

WRITE = "2017-05-08 12:00+00"          # when the provider writes (its nyop.now)


def _setup(db, buyer):
    db.execute("""CREATE TABLE pt (id int NOT NULL, region text NOT NULL, v int, lu timestamptz NOT NULL,
                                   PRIMARY KEY (id, region)) PARTITION BY LIST (region);
                  CREATE TABLE pt_eu PARTITION OF pt FOR VALUES IN ('eu');
                  CREATE TABLE pt_us PARTITION OF pt FOR VALUES IN ('us');
                  CREATE TABLE pt_as PARTITION OF pt FOR VALUES IN ('as');
                  INSERT INTO pt SELECT i, (ARRAY['eu', 'us', 'as'])[i % 3 + 1], i, '2017-05-07 12:00+00'
                  FROM generate_series(1, 30) i;
                  SELECT nyop_register_offering('pt', 'pt', 1000, ARRAY['id', 'region'], last_updated => 'lu',
                                                volatility => '24 hours');
                  SELECT nyop_set_criterion('pt', 'timeliness', 1);""")
    _, conn = buyer()
    conn.execute("SET nyop.now = '2017-05-07 18:00+00'")
    status, view, delay = conn.execute(
        "INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('pt', 300, '{\"timeliness\": 1}') "
        "RETURNING status, view::text, (quote->>'delay_seconds')::float8").fetchone()
    assert status == "accepted" and delay > 3600
    db.execute(f"SET nyop.now = '{WRITE}'")
    return conn, view


def _seen(conn, view):
    conn.execute(f"SET nyop.now = '{WRITE}'")               # a delayed buyer still sees the old versions
    return sorted(conn.execute(f"SELECT id, region, v FROM {view}").fetchall())


def test_writes_on_partitions_are_captured(db, buyer):
    conn, view = _setup(db, buyer)
    before = _seen(conn, view)
    assert len(before) == 30
    db.execute(f"UPDATE pt_eu SET v = v + 100, lu = '{WRITE}'")         # a partition named directly
    db.execute("DELETE FROM pt_eu WHERE id < 10")
    db.execute("TRUNCATE pt_us")
    db.execute(f"UPDATE pt SET v = v + 1, lu = '{WRITE}' WHERE region = 'as'")    # the parent
    assert _seen(conn, view) == before
    hist = one(db, "SELECT history::text FROM nyop.histories WHERE relation = 'pt'::regclass")
    # each old version once: 10 eu updated (3 of them deleted after, as new versions), 10 us, 10 as
    assert one(db, f"SELECT count(*) FROM {hist}") == 10 + 3 + 10 + 10


def test_detach_keeps_the_rows_as_old_versions_and_attach_captures(db, buyer):
    conn, view = _setup(db, buyer)
    before = _seen(conn, view)
    db.execute("ALTER TABLE pt DETACH PARTITION pt_as")
    assert _seen(conn, view) == before
    assert one(db, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pt_as'::regclass "
                   "AND tgname LIKE 'nyop_history_%'") == 0
    db.execute("DROP TABLE pt_as")                                      # no longer sold: free to go
    db.execute("CREATE TABLE pt_af PARTITION OF pt FOR VALUES IN ('af')")
    db.execute("INSERT INTO pt VALUES (100, 'af', 1, '2017-05-07 12:00+00')")
    db.execute("CREATE TABLE pt_sa (LIKE pt); INSERT INTO pt_sa VALUES (200, 'sa', 1, '2017-05-07 12:00+00')")
    db.execute("ALTER TABLE pt ATTACH PARTITION pt_sa FOR VALUES IN ('sa')")
    db.execute(f"UPDATE pt_af SET v = 2, lu = '{WRITE}'")
    db.execute(f"UPDATE pt_sa SET v = 2, lu = '{WRITE}'")
    seen = _seen(conn, view)
    assert (100, "af", 1) in seen and (200, "sa", 1) in seen


def test_an_attached_partition_cannot_be_dropped_with_its_capture(db, buyer):
    _setup(db, buyer)
    with pytest.raises(psycopg.errors.ObjectInUse) as e:
        db.execute("DROP TABLE pt_us")
    assert "DETACH PARTITION" in e.value.diag.message_hint
