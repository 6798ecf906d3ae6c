"""Operators change the market while clients bid (issue 13, last paragraph).

Six connections (three buyers, two each) bid continuously on `paper_a` and `sensors` while
* an offerings operator re-registers `paper_a` (one autocommit statement: it must never be on
  sale without its criteria), drops `sensors` with `force => true` and registers it again
  (in its own transaction after a gap, or in the drop's transaction: an atomic replacement),
* a buyers operator, in another session, removes a buyer and adds it back, and at the end
  removes one buyer for good while its clients still bid,
* the provider writes `sensors` (history capture torn down and installed again under writes),
* the operator publishes and withdraws a free preview of `paper_a` (granted to every buyer).

Clients record every bid acknowledged to them. Allowed refusals are listed in `REFUSALS`;
anything else fails, XX000 (tuple concurrently updated…), 40P01 (deadlock) and a Python
traceback above all. At the end:
* every acknowledged bid is stored exactly once, as acknowledged, and nothing else is stored;
  a forced drop keeps the bids (the record of what was sold) and deletes their purchases and
  views (`nyop_drop_offering`, sql/idempotent/030-registration.sql): an accepted bid without a
  purchase is one on the dropped offering whose view is gone;
* no view in nyop_views without an accepted purchase (or the published preview), no purchase
  without its view, one current purchase per view and per buyer and offering, no view granted
  to a role other than its buyer (a preview: to the current buyers, every one of them);
* the buyer removed for good holds no privilege on anything (no ACL entry names it), cannot
  read any of its former views, and cannot bid.
"""

from __future__ import annotations

import collections
import json
import os
import random
import re
import threading
import time

import psycopg

from conftest import one
from nyop_pg import paper

SECONDS = float(os.environ.get("NYOP_STRESS_SECONDS", "20"))
TAIL = 3.0                      # clients keep bidding this long after the operators' last change
NOW = "2017-05-08 12:00+00"

SENSORS_TABLE = """
CREATE TABLE sensors (id int PRIMARY KEY, a int, b int, c text, lu timestamptz NOT NULL);
INSERT INTO sensors SELECT i, i, CASE WHEN i % 6 = 0 THEN NULL ELSE i END, 'x' || i,
       '2017-05-08 00:00+00'::timestamptz + make_interval(mins => i) FROM generate_series(1, 300) i;"""
REGISTER_SENSORS = """
SELECT nyop_register_offering('sensors', 'sensors', 500, ARRAY['id'], last_updated => 'lu', volatility => '24 hours');
SELECT nyop_set_criterion('sensors', 'completeness', 0.5);
SELECT nyop_set_criterion('sensors', 'timeliness', 0.5);"""
REREGISTER_PAPER_A = ("SELECT nyop_register_offering('paper_a', 'weather_a', %s, ARRAY['station', 'date'], "
                      "last_updated => 'lastupdated', volatility => '24 hours')")

# The refusals a bidding client may meet, by SQLSTATE: (offerings, message). Nothing else may
# reach a client, and nothing at all an operator.
REFUSALS = {
    # a bid between a forced drop of sensors and its registration (paper_a is never missing)
    "42704": ({"sensors"}, re.compile(r"offering or comparison group 'sensors' does not exist")),
    # a bid by a removed buyer: its privileges are gone (statement start), or, when it got past
    # them, its row in nyop.buyers (nyop._place_bid: "role … is not a buyer")
    "42501": ({"sensors", "paper_a"},
              re.compile(r"permission denied for (table bids|schema nyop)|role .* is not a buyer")),
}


def _error(where: str, e: psycopg.Error) -> dict:
    d = e.diag
    text = "\n".join(filter(None, [str(e), d.message_detail, d.message_hint, d.context]))
    return {"where": where, "sqlstate": e.sqlstate, "message": str(e).splitlines()[0] if str(e) else "",
            "traceback": "Traceback" in text or 'File "' in text, "context": d.context}


def test_bids_survive_drops_reregistrations_and_buyer_churn(server, dbname, db, buyer):
    paper.load(db, single=True, group=False)
    db.execute(SENSORS_TABLE + REGISTER_SENSORS)
    buyers = [buyer(f"s{i}") for i in range(3)]
    names = [n for n, _ in buyers]
    gone = names[0]                                         # removed for good at the end

    def connect(user=None):
        c = psycopg.connect(server.dsn_for(dbname, user=user), password="nyop-test", autocommit=True)
        c.execute("SET statement_timeout = '30s'")          # a hang fails as 57014, never blocks CI
        c.execute(f"SET nyop.now = '{NOW}'")
        return c

    clients = [(n, connect(n)) for n in names for _ in range(2)]
    acked, errors, counts, lock = [], [], collections.Counter(), threading.Lock()
    start = time.monotonic()
    ops_end = start + SECONDS
    end = ops_end + TAIL

    def failed(where, e):
        with lock:
            errors.append(_error(where, e))

    def client(k, name, conn):
        rng = random.Random(k)
        while time.monotonic() < end:
            offering = rng.choice(["paper_a", "sensors"])
            prefs = ({"timeliness": rng.random(), "amount_of_data": rng.random(), "customer_support": rng.random()}
                     if offering == "paper_a" else {"completeness": rng.random(), "timeliness": rng.random()})
            amount = rng.choice([1, 50, 200, 400, 700, 1000, 1500]) * (1 if offering == "paper_a" else 0.5)
            try:
                bid_id, status, view = conn.execute(
                    "INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s, %s, %s) "
                    "RETURNING bid_id, status, view::oid::int8", (offering, amount, json.dumps(prefs))).fetchone()
                with lock:
                    acked.append((bid_id, name, offering, status, view))
            except psycopg.Error as e:
                failed(f"bid {offering} by {name}", e)
                time.sleep(0.01)

    def offerings_operator():
        rng = random.Random(1)
        with connect() as op:
            while time.monotonic() < ops_end:
                r = rng.random()
                try:
                    if r < 0.35:                            # re-register outside a transaction
                        op.execute(REREGISTER_PAPER_A, (rng.choice([1100, 1200, 1300]),))
                        counts["re-registration"] += 1
                    elif r < 0.7:                           # drop; bids meet no offering; register again
                        op.execute("SELECT nyop_drop_offering('sensors', force => true)")
                        counts["forced drop"] += 1
                        time.sleep(rng.uniform(0.05, 0.3))
                        with op.transaction():
                            op.execute(REGISTER_SENSORS)
                        counts["registration"] += 1
                    else:                                   # an atomic replacement
                        with op.transaction():
                            op.execute("SELECT nyop_drop_offering('sensors', force => true)")
                            op.execute(REGISTER_SENSORS)
                        counts["forced drop"] += 1
                        counts["registration"] += 1
                except psycopg.Error as e:
                    failed("offerings operator", e)
                    if not one(op, "SELECT count(*) FROM nyop.offerings WHERE name = 'sensors'"):
                        op.execute(REGISTER_SENSORS)
                time.sleep(rng.uniform(0.05, 0.3))

    def previews():                                         # a free preview for every buyer, or not
        rng = random.Random(4)
        with connect() as op:
            while time.monotonic() < ops_end:
                try:
                    op.execute("SELECT nyop_publish_preview('paper_a')")
                    counts["preview published"] += 1
                    time.sleep(rng.uniform(0.02, 0.2))
                    op.execute("SELECT nyop_unpublish_preview('paper_a')")
                except psycopg.Error as e:
                    failed("previews", e)
                    op.execute("DELETE FROM nyop.previews")
                time.sleep(rng.uniform(0.02, 0.2))
            try:
                op.execute("SELECT nyop_publish_preview('paper_a')")   # published at the end
            except psycopg.Error as e:
                failed("previews (final)", e)

    def buyers_operator():
        rng = random.Random(2)
        with connect() as op:
            while time.monotonic() < ops_end:
                name = rng.choice(names)
                try:
                    op.execute(f"SELECT nyop_remove_buyer('\"{name}\"')")
                    counts["buyer removal"] += 1
                    time.sleep(rng.uniform(0.05, 0.4))
                    op.execute(f"SELECT nyop_add_buyer('\"{name}\"')")
                    counts["buyer addition"] += 1
                except psycopg.Error as e:
                    failed("buyers operator", e)
                    if not one(op, "SELECT count(*) FROM nyop.buyers WHERE buyer = %s::regrole", (f'"{name}"',)):
                        op.execute(f"SELECT nyop_add_buyer('\"{name}\"')")
                time.sleep(rng.uniform(0.05, 0.3))
            try:                                            # for good, while its clients still bid
                op.execute(f"SELECT nyop_remove_buyer('\"{gone}\"')")
                counts["buyer removal"] += 1
            except psycopg.Error as e:
                failed("buyers operator (final removal)", e)

    def provider():
        rng = random.Random(3)
        with connect() as p:
            nxt = 1000
            while time.monotonic() < end:
                op = rng.random()
                try:
                    if op < 0.5:
                        p.execute("UPDATE sensors SET a = a + 1, lu = nyop.clock() WHERE id = %s",
                                  (rng.randint(1, 300),))
                    elif op < 0.75:
                        nxt += 1
                        p.execute("INSERT INTO sensors VALUES (%s, 1, 1, 'new', nyop.clock())", (nxt,))
                    else:
                        p.execute("DELETE FROM sensors WHERE id = %s", (rng.randint(1, 300),))
                    counts["provider write"] += 1
                except psycopg.Error as e:
                    failed("provider", e)
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(k, n, c), daemon=True) for k, (n, c) in enumerate(clients)]
    threads += [threading.Thread(target=f, daemon=True)
                for f in (offerings_operator, buyers_operator, previews, provider)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(end - time.monotonic(), 0) + 60)
    assert not any(t.is_alive() for t in threads), "a thread hangs"

    # -- no error but the listed refusals; never XX000, 40P01 or a traceback ------------------------
    by_kind = collections.Counter((e["where"], e["sqlstate"]) for e in errors)
    unexpected = [e for e in errors
                  if e["traceback"] or not e["where"].startswith("bid ") or e["sqlstate"] not in REFUSALS
                  or e["where"].split()[1] not in REFUSALS[e["sqlstate"]][0]
                  or not REFUSALS[e["sqlstate"]][1].search(e["message"])]
    assert unexpected == [], "\n".join(f"{n} × {k}" for k, n in collections.Counter(
        (e["where"], e["sqlstate"], e["message"], e["traceback"], e["context"]) for e in unexpected).items())
    assert counts["forced drop"] >= 3 and counts["re-registration"] >= 3 and counts["buyer removal"] >= 3, counts
    assert len(acked) > 50, (len(acked), by_kind)

    # -- every acknowledged bid stored exactly once, as acknowledged; nothing else stored -----------
    ids = [a[0] for a in acked]
    assert len(ids) == len(set(ids))
    stored = {r[0]: r[1:] for r in db.execute(
        "SELECT bid_id, buyer::text, offering, status, view::oid::int8 FROM nyop.bids WHERE quote IS NOT NULL")}
    assert one(db, "SELECT count(*) FROM nyop.bids") == len(stored) == len(acked)
    assert {a[0]: a[1:] for a in acked} == stored         # (role names need no quoting here)
    accepted = {a[0] for a in acked if a[3] == "accepted"}
    assert accepted and all(a[4] is None for a in acked if a[3] == "rejected")

    # -- purchases and views -------------------------------------------------------------------------
    # every purchase is an accepted bid's, of its buyer, and its view exists
    assert db.execute("""
        SELECT p.bid_id FROM nyop.purchases p LEFT JOIN nyop.bids b USING (bid_id)
        WHERE b.status IS DISTINCT FROM 'accepted' OR b.buyer <> p.buyer
           OR NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = p.view
                          AND c.relnamespace = 'nyop_views'::regnamespace)""").fetchall() == []
    # every view in nyop_views is some accepted purchase's, or the published preview
    assert db.execute("""
        SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'nyop_views'::regnamespace AND c.relkind = 'v'
          AND NOT EXISTS (SELECT 1 FROM nyop.purchases p JOIN nyop.bids b USING (bid_id)
                          WHERE p.view = c.oid AND b.status = 'accepted')
          AND NOT EXISTS (SELECT 1 FROM nyop.previews v WHERE v.view = c.oid)""").fetchall() == []
    # an accepted bid without a purchase: its offering was dropped with force, its view with it
    orphans = db.execute("""
        SELECT b.bid_id, b.sold, EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = b.view) FROM nyop.bids b
        WHERE b.status = 'accepted' AND NOT EXISTS (SELECT 1 FROM nyop.purchases p WHERE p.bid_id = b.bid_id)
        """).fetchall()
    assert [o for o in orphans if o[1] != "sensors" or o[2]] == []
    # the view of an accepted bid with a purchase is its purchase's
    assert one(db, "SELECT count(*) FROM nyop.bids b JOIN nyop.purchases p USING (bid_id) "
                   "WHERE b.view IS DISTINCT FROM p.view") == 0
    # one current purchase per view, one per buyer and offering
    assert one(db, "SELECT count(*) FROM (SELECT view FROM nyop.purchases WHERE superseded_by IS NULL "
                   "GROUP BY view HAVING count(*) > 1) x") == 0
    assert one(db, "SELECT count(*) FROM (SELECT buyer, offering FROM nyop.purchases WHERE superseded_by IS NULL "
                   "GROUP BY 1, 2 HAVING count(*) > 1) x") == 0
    # no view grants anything to a role other than its owner and its buyer (a preview: the buyers)
    assert db.execute("""
        SELECT c.relname, a.grantee::regrole FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.relnamespace = 'nyop_views'::regnamespace AND a.grantee <> c.relowner
          AND NOT EXISTS (SELECT 1 FROM nyop.purchases p WHERE p.view = c.oid AND p.buyer = a.grantee)
          AND NOT (EXISTS (SELECT 1 FROM nyop.previews v WHERE v.view = c.oid)
                   AND EXISTS (SELECT 1 FROM nyop.buyers b WHERE b.buyer = a.grantee))
        """).fetchall() == []
    # a published preview is readable by every buyer
    assert db.execute("""
        SELECT v.view::text, b.buyer::text FROM nyop.previews v, nyop.buyers b
        WHERE NOT has_table_privilege(b.buyer, v.view, 'SELECT')""").fetchall() == []
    # both offerings on sale with their criteria
    assert db.execute("SELECT offering, count(*) FROM nyop.criteria GROUP BY 1 ORDER BY 1").fetchall() == [
        ("paper_a", 3), ("sensors", 2)]

    # -- the buyer removed for good: no privilege anywhere, none of its views readable ---------------
    assert one(db, "SELECT count(*) FROM nyop.buyers WHERE buyer = %s::regrole", (f'"{gone}"',)) == 0
    held = db.execute("""
        SELECT cls, obj, a.privilege_type FROM (
            SELECT 'pg_class' AS cls, oid::regclass::text AS obj, relacl AS acl FROM pg_class
            UNION ALL SELECT 'pg_namespace', nspname::text, nspacl FROM pg_namespace
            UNION ALL SELECT 'pg_proc', oid::regprocedure::text, proacl FROM pg_proc) x, aclexplode(x.acl) a
        WHERE a.grantee = %s::regrole""", (f'"{gone}"',)).fetchall()
    assert held == []
    former = [v for (v,) in db.execute(
        "SELECT DISTINCT view::text FROM nyop.purchases WHERE buyer = %s::regrole", (f'"{gone}"',))]
    assert former, "the removed buyer held views"
    former += [v for (v,) in db.execute("SELECT view::text FROM nyop.previews")]
    for _, conn in (c for c in clients if c[0] == gone):
        for view in former:
            try:
                conn.execute(f"SELECT * FROM {view}").fetchall()
                raise AssertionError(f"{gone} reads {view} after its removal")
            except psycopg.errors.InsufficientPrivilege:
                pass
        try:
            conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, '{}')")
            raise AssertionError(f"{gone} bids after its removal")
        except psycopg.errors.InsufficientPrivilege:
            pass
    for _, c in clients:
        c.close()
    print(f"\n{len(acked)} bids acknowledged ({len(accepted)} accepted), {dict(counts)}, refusals {dict(by_kind)}")
