"""mckp's exact search pinned by the work it does (issue 17), not only by its answer.

Most mistakes in the search's bookkeeping -- a weaker bound, a later cut, a block range one
entry short, a lattice step off by one -- still end at the optimum (the search is exact
whatever it explores), so tests that check answers let them pass. Here every step of the
search on fixed instances is recorded -- the LP split and the base, the bounds, each merge
group and the states it kept, each dense merge's window and the entries it touched, each
trim, cut and search round with its status -- and compared with ``mckp_work.json``.

Deliberately brittle: a change to the search that is meant to change its work (a new bound,
another order) changes these fingerprints. Then check the answers still hold (the rest of the
suite), and regenerate: ``NYOP_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/test_mckp_work.py``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import pathlib

import numpy as np
import pytest

from nyop_pg.instances import classic_instance, random_pricing_instance
from nyop_server import mckp

GOLDEN = pathlib.Path(__file__).with_name("mckp_work.json")
REGEN = os.environ.get("NYOP_REGEN_GOLDEN") == "1"


def num(x):
    """A number as the fingerprint keeps it: 10 significant digits (round-off aside)."""
    x = float(x)
    return x if math.isinf(x) or x == 0 else float(f"{x:.10g}")


def digest(a):
    """A short, exact summary of an array of numbers: size, sum and a position-weighted sum
    of its finite values."""
    a = np.asarray(a, dtype=np.float64).ravel()
    f = np.isfinite(a)
    k = np.arange(a.shape[0], dtype=np.float64)
    return [int(a.shape[0]), int((~f).sum()), num(a[f].sum()), num((a[f] * (k[f] % 97 + 1)).sum())]


@contextlib.contextmanager
def recording(log):
    """Every step of the exact search appended to ``log`` (the search's own objects and
    functions, wrapped; nothing changes in what they do)."""
    saved = {}

    def wrap(owner, name, after):
        orig = getattr(owner, name)
        saved[(owner, name)] = orig

        def spy(*args, **kwargs):
            out = orig(*args, **kwargs)
            after(args, kwargs, out)
            return out
        setattr(owner, name, spy)

    Core, Dense = mckp._Core, mckp._Dense

    def core_made(args, kwargs, out):
        c = args[0]
        rec = {"step": "core", "final": c.final is not None}
        if c.final is None:
            rec.update(lam=num(c.lam), UB=num(c.UB), bound=num(c.best_bound), LB=num(c.LB),
                       base=[int(x) for x in c.base], integral=c.integral, lat=c.lat,
                       need=num(c.need), D=digest(np.where(np.isfinite(c.D), c.D, -1.0)))
        else:
            rec.update(result=[[int(x) for x in c.final[0]], c.final[1], num(c.final[2])])
        log.append(rec)

    wrap(Core, "__init__", core_made)
    wrap(Core, "run", lambda a, k, out: log.append(
        {"step": "run", "args": [num(x) if x is not None else None for x in a[1:]], "status": out[0],
         "trunc": num(out[1]), "LB": num(a[0].LB), "bound": num(a[0].best_bound),
         "groups": [[(int(c), len(items)) for c, items in g] for g in a[0].groups],
         "records": [digest(p) + digest(c) for p, c in zip(a[0].h_par, a[0].h_combo)],
         "best": a[0].best_id if not isinstance(a[0].best_id, tuple) else list(a[0].best_id)}))
    wrap(Dense, "__init__", lambda a, k, out: log.append(
        {"step": "dense", "lo": int(a[0].lo), "F": digest(a[0].F), "off": num(a[0].off), "small": a[0].small}))
    wrap(Dense, "merge", lambda a, k, out: log.append(
        {"step": "merge", "cls": int(a[1]), "items": len(a[2]), "work": int(out[0]), "late": out[1],
         "lo": int(a[0].lo), "F": digest(a[0].F), "changed": digest(a[0].merges[-1][4]),
         "winners": digest(a[0].merges[-1][5])}))
    wrap(Dense, "trim", lambda a, k, out: log.append(
        {"step": "trim", "out": out, "lo": int(a[0].lo), "F": digest(a[0].F), "off": num(a[0].off),
         "small": a[0].small}))
    wrap(Dense, "cut", lambda a, k, out: log.append(
        {"step": "cut", "out": num(out), "lo": int(a[0].lo), "F": digest(a[0].F)}))
    wrap(Dense, "best_fit", lambda a, k, out: log.append(
        {"step": "fit", "out": [num(out[0]), out[1]]}))
    wrap(Dense, "max_bound", lambda a, k, out: log.append({"step": "max_bound", "out": num(out)}))
    try:
        yield
    finally:
        for (owner, name), orig in saved.items():
            setattr(owner, name, orig)


SETTINGS = {
    # mode: module settings (see tests/unit/test_mckp_dense.py) and solve_exact's limits
    "default": ({}, {}),
    "sparse": ({"_DENSE_COST": math.inf}, {}),
    "dense": ({"_DENSE_COST": 0.0, "_DENSE_MIN": 1, "_GROUP": 1, "_DENSE_TRACK": 0}, {}),
    "dense-after": ({"_DENSE_COST": 0.0, "_DENSE_MIN": 1, "_GROUP": 1}, {}),
    "nolattice": ({"_DENSE_COST": math.inf, "lattice": None}, {}),
    "one-by-one": ({"_DENSE_COST": math.inf, "_PAIRS": 0, "_GROUP": 1}, {}),
    "capped": ({"_DENSE_COST": math.inf}, {"max_frontier": 40}),
    "dense-capped": ({"_DENSE_COST": 0.0, "_DENSE_MIN": 1, "_GROUP": 1, "_DENSE_CAP": 1}, {"max_frontier": 60}),
    "aspire": ({"_ASPIRE_WORK": 30}, {}),
    "round-budget": ({"_ROUND_WORK": 30}, {}),       # real profits: a deficit round out of budget
    # the time limit on a clock that ticks once per reading (FakeClock): the search stops at
    # the same point on every machine -- in a sparse merge, between merges, inside a dense one
    "clock-2": ({"_DENSE_COST": math.inf, "clock": True}, {"max_seconds": 2}),
    "clock-5": ({"_DENSE_COST": math.inf, "_PAIRS": 0, "_GROUP": 1, "clock": True}, {"max_seconds": 5}),
    "clock-dense": ({"_DENSE_COST": 0.0, "_DENSE_MIN": 1, "_GROUP": 1, "clock": True}, {"max_seconds": 4}),
    # ... and inside a dense merge of a class with many items (on instances where that happens)
    "clock-late": ({"_DENSE_COST": 0.0, "_DENSE_MIN": 1, "_GROUP": 1, "clock": True}, {"max_seconds": 6}),
    # a dense window that outgrows its cap and is cut (on one instance where that happens)
    "dense-cut": ({"_DENSE_COST": 0.0, "_DENSE_MIN": 1, "_GROUP": 1, "_DENSE_CAP": 3}, {"max_frontier": 20}),
}


class FakeClock:
    """``time`` for mckp: ``perf_counter`` advances by one at every reading."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 1.0
        return self.now


@contextlib.contextmanager
def settings(mode):
    mods, _ = SETTINGS[mode]
    old = {k: getattr(mckp, k) for k in mods if k not in ("lattice", "clock")}
    old_lattice, old_time = mckp._Core.lattice, mckp.time
    old_small = mckp._SMALL_ITEMS
    mckp._SMALL_ITEMS = 0
    for k, v in mods.items():
        if k == "lattice":
            mckp._Core.lattice = lambda self, *args: None
        elif k == "clock":
            mckp.time = FakeClock()
        else:
            setattr(mckp, k, v)
    try:
        yield dict(SETTINGS[mode][1])
    finally:
        for k, v in old.items():
            setattr(mckp, k, v)
        mckp._Core.lattice, mckp.time = old_lattice, old_time
        mckp._SMALL_ITEMS = old_small


def instance(name):
    kind, n, m, R, seed = name.split(":")
    n, m, R, seed = int(n), int(m), int(R), int(seed)
    if kind == "pricing":
        W, P, cap = random_pricing_instance(n, m, R, seed)
        return W, P, cap
    if kind == "lattice":
        # p = 2 w + 6 k + c: profits on a lattice of step 6 and slope 2 (the lattice bound
        # binds); an odd seed makes the rows ragged (padding under the lattice bound)
        rng = np.random.default_rng(seed)
        W = np.sort(rng.integers(0, R + 1, (n, m)), axis=1).astype(float)
        P = (2 * W + 6 * np.sort(rng.integers(0, 9, (n, m)), axis=1) + rng.integers(-5, 6, (n, 1))).astype(float)
        cap = float(W.min(axis=1).sum() + (W.max(axis=1).sum() - W.min(axis=1).sum()) // 3)
        if seed % 2:
            return [W[i, : m - i % 3] for i in range(n)], [P[i, : m - i % 3] for i in range(n)], cap
        return W, P, cap
    if kind.startswith("real-"):                            # real profits: p + 0.5 (no lattice)
        W, P, cap = classic_instance(kind[5:], n, m, R, seed)
        return W, P + 0.5, cap
    W, P, cap = classic_instance(kind, n, m, R, seed)
    if kind == "uncorrelated" and seed % 2:                 # ragged: rows of different lengths
        return [W[i, : m - i % 3] for i in range(n)], [P[i, : m - i % 3] for i in range(n)], cap
    return W, P, cap


INSTANCES = ["uncorrelated:12:8:1000:1", "uncorrelated:10:12:10000:2", "weakly:12:8:1000:3",
             "weakly:8:20:10000:4", "strongly:12:8:1000:5", "strongly:10:10:10000:6",
             "subset_sum:12:8:1000:7", "subset_sum:8:16:10000:8", "zigzag:12:8:1000:9",
             "pricing:12:10:1000:10", "pricing:20:12:10000:11", "lattice:12:8:100:20", "lattice:10:9:200:21",
             "real-weakly:12:8:1000:40", "real-uncorrelated:10:10:10000:42"]
SPECIAL = ("dense-cut", "clock-late")
CASES = ([(i, mode) for i in INSTANCES for mode in SETTINGS if mode not in SPECIAL]
         + [("weakly:5:80:1000:33", mode) for mode in ("clock-late", "dense", "default")]
         + [("strongly:20:6:20:12", "dense-cut"), ("pricing:40:30:1000:13", "default"),
            ("pricing:40:30:10000:14", "one-by-one")])


def fingerprint(name, mode):
    W, P, cap = instance(name)
    log = []
    with settings(mode) as limits, recording(log):
        limits.setdefault("max_seconds", None)
        sol = mckp.solve_exact(W, P, cap, **limits)
    log.append({"step": "solution", "choice": [int(j) for j in sol.choice], "profit": num(sol.profit),
                "optimal": sol.optimal, "gap": num(sol.gap), "stopped_by": sol.stopped_by})
    return json.loads(json.dumps(log))


@functools.lru_cache(maxsize=None)
def golden():
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


@pytest.mark.parametrize("name, mode", CASES, ids=[f"{i}/{m}" for i, m in CASES])
def test_search_does_the_recorded_work(name, mode):
    want = golden().get(f"{name}/{mode}")
    assert want is not None, "no fingerprint recorded: NYOP_REGEN_GOLDEN=1 (see the module docstring)"
    got = fingerprint(name, mode)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"step {k} differs"
    assert len(got) == len(want)


def test_every_path_is_recorded():
    """The fingerprints cover what they are for: dense phases (tracked and found afterwards),
    trims, cuts, every search status, lattice bounds, aspiration rounds, one-by-one merges."""
    fps = {k: fp for k, fp in golden().items() if not k.startswith("py/")}
    steps = [s for fp in fps.values() for s in fp]
    kinds = {s["step"] for s in steps}
    assert {"core", "run", "dense", "merge", "trim", "cut", "fit", "max_bound", "solution"} <= kinds
    assert {s["status"] for s in steps if s["step"] == "run"} >= {"exhausted", "found", "states", "work", "time"}
    assert any(s.get("late") for s in steps if s["step"] == "merge")
    assert any(s.get("lat") for s in steps if s["step"] == "core")
    assert any(not s.get("integral", True) for s in steps if s["step"] == "core")
    assert any(not fp[-1]["optimal"] for fp in fps.values())


def test_ramp_cache():
    """``_ramp``: a shared read-only ``arange`` per dtype, at least 4096 long, doubled (or
    sized to the request) when a longer one is asked for, the same object otherwise."""
    saved = dict(mckp._RAMPS)
    mckp._RAMPS.clear()
    try:
        r = mckp._ramp(np, 10, np.float32)
        assert r.dtype == np.float32 and r.shape == (4096,) and not r.flags.writeable
        assert np.array_equal(r, np.arange(4096))
        assert mckp._ramp(np, 4096, np.float32) is r
        r2 = mckp._ramp(np, 4097, np.float32)
        assert r2.shape == (8192,) and np.array_equal(r2, np.arange(8192)) and not r2.flags.writeable
        r3 = mckp._ramp(np, 20000, np.float32)
        assert r3.shape == (20000,) and r3[-1] == 19999
        r64 = mckp._ramp(np, 5, np.float64)
        assert r64.dtype == np.float64 and r64.shape == (4096,) and mckp._ramp(np, 5, np.float32) is r3
    finally:
        mckp._RAMPS.clear()
        mckp._RAMPS.update(saved)


# ---- the plain-Python search (small instances: every pricing quote) ---------------------------

PY_INSTANCES = ["uncorrelated:6:6:1000:50", "weakly:6:6:1000:51", "strongly:5:8:1000:52",
                "subset_sum:6:5:1000:53", "zigzag:6:6:1000:54", "pricing:6:10:1000:55",
                "pricing:8:12:10000:56", "real-weakly:6:6:1000:57", "lattice:6:6:100:58",
                "uncorrelated:7:6:10000:59", "weakly:8:5:100:60", "strongly:8:4:100:61",
                "subset_sum:9:4:100:62", "zigzag:8:5:100:63", "pricing:10:6:100:64",
                "real-strongly:7:5:100:65", "lattice:8:5:30:66", "uncorrelated:9:5:100:67",
                "lattice:7:6:40:68", "weakly:10:4:1000:69"]


def least(fn, lo=0, hi=1 << 22):
    """The least value in lo..hi for which fn(value) holds (fn monotone), or None."""
    if not fn(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fn(mid) else (mid + 1, hi)
    return lo


def py_fingerprint(name):
    """What _py_exact returns, the least work budget (state/item pairs) and the least state cap
    with which it finishes: together they pin the work it does."""
    W, P, cap = instance(name)
    ws = [[float(x) for x in np.asarray(w)] for w in W]
    ps = [[float(x) for x in np.asarray(p)] for p in P]
    limit = mckp.capacity_limit(cap)
    res = mckp._py_exact(ws, ps, limit, 1 << 30)
    old = mckp._PY_WORK
    try:
        mckp._PY_WORK = 1 << 30
        states = least(lambda k: mckp._py_exact(ws, ps, limit, k) is not None)
        work = least(lambda k: setattr(mckp, "_PY_WORK", k) or mckp._py_exact(ws, ps, limit, 1 << 30) is not None)
    finally:
        mckp._PY_WORK = old
    return json.loads(json.dumps({"result": res,
                                  "least_states": states, "least_work": work,
                                  "lp": num(mckp.lp_bound(ws, ps, cap))}))


if REGEN:                       # both kinds of fingerprint, written once at collection
    GOLDEN.write_text(json.dumps({**{f"{i}/{m}": fingerprint(i, m) for i, m in CASES},
                                  **{f"py/{i}": py_fingerprint(i) for i in PY_INSTANCES}},
                                 separators=(",", ":"), sort_keys=True) + "\n")


@pytest.mark.parametrize("name", PY_INSTANCES)
def test_plain_python_search_does_the_recorded_work(name):
    want = golden().get(f"py/{name}")
    assert want is not None, "no fingerprint recorded: NYOP_REGEN_GOLDEN=1 (see the module docstring)"
    got = py_fingerprint(name)
    assert got == want
    # and what it returns is right: an optimal choice, under the LP bound
    W, P, cap = instance(name)
    if got["result"] is not None:
        ref = mckp.solve_exact(W, P, cap)
        profit = sum(float(np.asarray(P[i])[j]) for i, j in enumerate(got["result"]))
        assert profit == pytest.approx(ref.profit, abs=1e-9) and profit <= got["lp"] + 1e-9
