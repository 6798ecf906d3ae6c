"""8 clients bid for ≥ 30 s while the provider writes (issue 5): every bid stored exactly
once with its quote, every accepted bid with exactly one working view, no deadlock or
serialization failure reaching a client, every view still obeying its delay and mask."""

import json
import os
import random
import threading
import time

import psycopg

from conftest import one
from nyop_pg import paper

SECONDS = float(os.environ.get("NYOP_STRESS_SECONDS", "30"))
NOW = "2017-05-08 12:00+00"


def setup_offerings(db):
    paper.load(db, single=True, group=False)
    db.execute("""CREATE TABLE sensors (id int PRIMARY KEY, a int, b int, c text, lu timestamptz NOT NULL);
                  INSERT INTO sensors SELECT i, i, CASE WHEN i % 6 = 0 THEN NULL ELSE i END, 'x' || i,
                         '2017-05-08 00:00+00'::timestamptz + make_interval(mins => i) FROM generate_series(1, 300) i;
                  SELECT nyop_register_offering('sensors', 'sensors', 500, ARRAY['id'], last_updated => 'lu',
                                                volatility => '24 hours');
                  SELECT nyop_set_criterion('sensors', 'completeness', 0.5);
                  SELECT nyop_set_criterion('sensors', 'timeliness', 0.5);""")


def test_concurrent_bids_and_provider_writes(server, dbname, db, buyer):
    setup_offerings(db)
    buyers = [buyer(f"c{i}") for i in range(4)]
    conns = []
    for name, _ in buyers:                  # two connections per buyer: re-bids race each other
        for _ in range(2):
            conns.append((name, psycopg.connect(server.dsn_for(dbname, user=name), password="nyop-test",
                                                autocommit=True)))
    placed, failures, lock = [], [], threading.Lock()
    stop = time.monotonic() + SECONDS

    def client(k, name, conn):
        rng = random.Random(k)
        conn.execute(f"SET nyop.now = '{NOW}'")
        while time.monotonic() < stop:
            offering = rng.choice(["paper_a", "sensors"])
            prefs = ({"timeliness": rng.random(), "amount_of_data": rng.random(), "customer_support": rng.random()}
                     if offering == "paper_a" else {"completeness": rng.random(), "timeliness": rng.random()})
            amount = rng.choice([1, 50, 200, 400, 700, 1000, 1500]) * (1 if offering == "paper_a" else 0.5)
            try:
                row = conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s, %s, %s) "
                                   "RETURNING bid_id, status, view::text", (offering, amount, json.dumps(prefs))
                                   ).fetchone()
                with lock:
                    placed.append((name,) + tuple(row))
            except psycopg.Error as e:
                with lock:
                    failures.append(f"{e.sqlstate}: {e}")

    def provider():
        rng = random.Random(99)
        with psycopg.connect(server.dsn_for(dbname), autocommit=True) as p:
            p.execute(f"SET nyop.now = '{NOW}'")
            nxt = 1000
            while time.monotonic() < stop:
                op = rng.random()
                if op < 0.5:
                    p.execute("UPDATE sensors SET a = a + 1, lu = nyop.clock() WHERE id = %s", (rng.randint(1, 300),))
                elif op < 0.75:
                    nxt += 1
                    p.execute("INSERT INTO sensors VALUES (%s, 1, 1, 'new', nyop.clock())", (nxt,))
                else:
                    p.execute("DELETE FROM sensors WHERE id = %s", (rng.randint(1, 300),))
                time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(k, n, c)) for k, (n, c) in enumerate(conns)]
    threads.append(threading.Thread(target=provider))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _, c in conns:
        c.close()

    assert failures == []                                   # no deadlock, no serialization failure
    assert len(placed) > 50
    ids = [p[1] for p in placed]
    assert len(ids) == len(set(ids))
    stored = dict(db.execute("SELECT bid_id, status FROM nyop.bids WHERE quote IS NOT NULL").fetchall())
    assert set(ids) == set(stored) and one(db, "SELECT count(*) FROM nyop.bids") == len(ids)
    assert {p[2] for p in placed} == {"accepted", "rejected"}
    accepted = [p for p in placed if p[2] == "accepted"]
    assert one(db, "SELECT count(*) FROM nyop.purchases") == len(accepted)
    # exactly one current purchase per view, and each buyer holds one per offering
    assert one(db, "SELECT count(*) FROM (SELECT view FROM nyop.purchases WHERE superseded_by IS NULL "
                   "GROUP BY view HAVING count(*) > 1) x") == 0
    assert one(db, "SELECT count(*) FROM (SELECT buyer, offering FROM nyop.purchases WHERE superseded_by IS NULL "
                   "GROUP BY 1, 2 HAVING count(*) > 1) x") == 0
    # every view works for its buyer and obeys its delay and mask
    for name, c in buyers:
        c.execute(f"SET nyop.now = '{NOW}'")
        # the current version of each view (bid ids are drawn before a bid waits for the buyer's lock:
        # a later id may be upgraded by an earlier one)
        for view, quote in c.execute(
                "SELECT m.view::text, b.quote FROM nyop.my_purchases m JOIN nyop.bids b USING (bid_id)").fetchall():
            cur = c.execute(f"SELECT * FROM {view}")
            rows = cur.fetchall()
            names = [d.name for d in cur.description]
            lu = "lu" if "lu" in names else "lastupdated" if "lastupdated" in names else None
            cutoff = one(c, "SELECT nyop.clock() - make_interval(secs => %s)", (quote["delay_seconds"],))
            if lu:
                assert all(r[names.index(lu)] <= cutoff for r in rows), view
            again = c.execute(f"SELECT * FROM {view}").fetchall()
            assert sorted(map(repr, again)) == sorted(map(repr, rows))           # same masks on re-query
