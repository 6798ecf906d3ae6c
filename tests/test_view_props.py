"""Properties of delivered views over random offerings and bids (issue 5): a view's columns,
completeness and delay match its quote."""

import json
import math

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import one

NOW = "2017-05-08 12:00+00"


@st.composite
def offering_and_bid(draw):
    n = draw(st.integers(5, 60))
    ncols = draw(st.integers(1, 5))
    null_every = [draw(st.integers(2, 7)) for _ in range(ncols)]
    ages = draw(st.lists(st.integers(0, 23 * 60), min_size=n, max_size=n))
    crits = draw(st.lists(st.sampled_from(["completeness", "timeliness", "amount_of_data"]),
                          min_size=1, max_size=3, unique=True))
    weights = {c: draw(st.floats(0.05, 1)) for c in crits}
    bid = draw(st.floats(1, 1200))
    wanted = draw(st.lists(st.sampled_from([f"c{i}" for i in range(ncols)]), unique=True, max_size=ncols))
    return n, ncols, null_every, ages, crits, weights, bid, wanted


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=offering_and_bid())
def test_view_matches_its_quote(db, buyer, case):
    n, ncols, null_every, ages, crits, weights, bid, wanted = case
    name, conn = _buyer(buyer)
    k = one(db, "SELECT count(*) FROM nyop.offerings")
    t = f"prop_{k}"
    cols = ", ".join(f"c{i} int" for i in range(ncols))
    vals = ", ".join(f"CASE WHEN i %% {e} = 0 THEN NULL ELSE i END" for e in null_every)
    db.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, {cols}, lu timestamptz NOT NULL)")
    db.execute(f"INSERT INTO {t} SELECT i, {vals}, %s::timestamptz - make_interval(mins => (%s::int[])[i]) "
               f"FROM generate_series(1, %s) i", (NOW, ages, n))
    db.execute(f"SELECT nyop_register_offering('{t}', '{t}', 1000, ARRAY['id'], last_updated => 'lu', "
               "volatility => '24 hours')")
    for c in crits:
        db.execute(f"SELECT nyop_set_criterion('{t}', '{c}', 1)")
    conn.execute(f"SET nyop.now = '{NOW}'")
    status, q, view = conn.execute(
        "INSERT INTO nyop.bids (offering, bid, preferences, columns) VALUES (%s, %s, %s, %s) "
        "RETURNING status, quote, view::text", (t, bid, json.dumps(weights), wanted or None)).fetchone()
    if status != "accepted":
        assert q["minimum_bid"] > bid or "cannot deliver" in q["reason"]
        return
    assert q["cost"] <= bid + 1e-6
    cur = conn.execute(f"SELECT * FROM {view}")
    rows = cur.fetchall()
    names = [d.name for d in cur.description]
    assert names == q["view_columns"] and set(q["columns"]) <= set(names)
    assert [c for c in names if c in wanted] == [c for c in wanted if c in names]     # the buyer's order
    cutoff = one(conn, "SELECT nyop.clock() - make_interval(secs => %s)", (q["delay_seconds"],))
    if "lu" in names:
        assert all(r[names.index("lu")] <= cutoff for r in rows)
    expected_rows = one(db, f"SELECT count(*) FROM {t} WHERE lu <= %s", (cutoff,))
    assert len(rows) == expected_rows
    counted = [i for i, c in enumerate(names) if c != "lu"]
    cells = len(rows) * len(counted)
    if cells:
        got = sum(r[i] is not None for r in rows for i in counted) / cells
        floor = len(rows) / cells                          # the key is never masked
        own = one(db, f"SELECT sum(num_nonnulls({', '.join(names[i] for i in counted)}))::float8 / %s "
                      f"FROM {t} WHERE lu <= %s", (cells, cutoff))
        target = max(min(q["completeness_target"], own), floor)
        assert abs(got - target) <= 1 / cells + 1e-9 or got >= target   # never less than bought
        if "completeness" in q["levels"]:                  # masked to the target: recorded as delivered
            assert math.isclose(got, q["view_completeness"])
        else:                                              # not bought: the data as it is, nothing masked
            assert q["view_completeness"] is None and got == own


_BUYERS = {}


def _buyer(factory):
    # one buyer per test run; hypothesis calls the test body many times with the same fixtures
    key = id(factory)
    if key not in _BUYERS:
        _BUYERS.clear()
        _BUYERS[key] = factory("prop")
    return _BUYERS[key]
