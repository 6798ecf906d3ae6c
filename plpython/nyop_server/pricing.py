"""A quote: the MCKPP of docs/model.md §5 for one offering (or the best of a
comparison group), and the tailored product it buys (docs/model.md §7).

Plain Python over numbers the edge has fetched: the offering's row, its
criteria, its measured quality and the reference scores of its group.
"""

from __future__ import annotations

import math

from . import mckp
from .errors import InvalidParameter, UndefinedColumn
from .model import Criterion, build_classes, parse_utility

SOLVERS = ("exact", "greedy")


def check_bid(bid) -> float:
    if bid is None or isinstance(bid, bool) or not isinstance(bid, (int, float)):
        raise InvalidParameter("bid must be a number, got %r" % (bid,))
    try:
        b = float(bid)
    except OverflowError:
        b = math.inf
    if math.isnan(b) or math.isinf(b) or b <= 0:
        raise InvalidParameter("bid must be a finite number > 0, got %s" % (bid,))
    return b


def check_solver(solver) -> str:
    if solver not in SOLVERS:
        raise InvalidParameter("solver must be 'exact' or 'greedy', got %r" % (solver,))
    return solver


def check_columns(wanted, columns: list) -> list:
    """Z: the buyer's wanted columns, most wanted first — known, distinct columns only."""
    if wanted is None:
        return []
    if not isinstance(wanted, list):
        raise InvalidParameter("columns must be an array of column names")
    seen = set()
    for c in wanted:
        if not isinstance(c, str) or c not in columns:
            raise UndefinedColumn("column %r is not offered" % (c,), hint="offered: %s" % ", ".join(columns))
        if c in seen:
            raise InvalidParameter("column %r is listed twice in columns" % (c,))
        seen.add(c)
    return list(wanted)


def format_interval(seconds: float) -> str:
    """Seconds as PostgreSQL prints an interval of hours: '08:38:24' (hours unbounded)."""
    us = int(round(seconds * 1e6))
    s, us = divmod(us, 1_000_000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    out = "%02d:%02d:%02d" % (h, m, s)
    return out + (".%06d" % us).rstrip("0") if us else out


def criteria_of(rows: list) -> list:
    return [Criterion(name=r["criterion"], kappa=r["provider_weight"], pricing=r["pricing"],
                      threshold=r["threshold"], min_level=r["min_level"], tiers=r["tiers"])
            for r in rows]


def project(off: dict, n: int, wanted: list, always=()) -> list:
    """y_t = n columns in all: the key columns (and ``always``: the columns of a published free
    preview, so every version contains it) are always kept and take their slots first; the
    remaining slots go to the buyer's order Z, then the provider's. Naming columns changes
    which columns, never how many (more than n only when the kept columns alone exceed n)."""
    order = list(wanted) + [c for c in off["columns"] if c not in wanted]
    kept = {c for c in order if c in off["key_columns"] or c in always}
    rest = [c for c in order if c not in kept]
    chosen = kept | set(rest[:max(0, n - len(kept))])
    return [c for c in order if c in chosen]


def priced_classes(off: dict, crit_rows: list, measured: dict, reference: dict, floors: dict | None = None) -> list:
    """The MCKPP's classes for an offering; ``floors`` ({criterion: level}, or {criterion: the held
    quote's level entry}) drops the levels below what a buyer already holds (an upgrade never
    sells less). A contractual criterion's floor is best given as its entry: its tier then
    decides, whatever utility level the tier had when it was bought (tiers scale with m)."""
    crits = build_classes(criteria_of(crit_rows), off["reserve_price"], parse_utility(off["utility"]),
                          off["levels"], measured, reference)
    for c in crits:
        floor = (floors or {}).get(c.name)
        keep = None
        if isinstance(floor, dict):
            if c.tier_of and floor.get("tier") is not None:
                keep = [j for j, t in enumerate(c.tier_of) if t >= floor["tier"]]
            floor = floor.get("level") if keep is None else None
        if floor is not None:
            keep = [j for j, l in enumerate(c.levels) if l >= floor - 1e-9]
        if keep is not None:
            c.levels = [c.levels[j] for j in keep]
            c.scores = [c.scores[j] for j in keep]
            c.prices = [c.prices[j] for j in keep]
            c.tier_of = [c.tier_of[j] for j in keep] if c.tier_of else []
        if c.name == "amount_of_data":
            # how many columns each level delivers (product(): keys count toward them), for the
            # column-set audit; an upgrade's floor {"columns": n, "kept": k} keeps only the levels
            # that deliver the n columns the buyer will hold (held ∪ wanted, MODEL §8)
            c.columns = column_counts(off, c, measured, reference)
            c.kept, c.n_columns = len(off["key_columns"]), len(off["columns"])
            floor = (floors or {}).get(c.name)
            need = floor.get("columns") if isinstance(floor, dict) else None
            if need is not None and need > floor.get("kept", c.kept):
                keep = [j for j, n in enumerate(c.columns) if n >= need]
                c.levels, c.scores, c.prices, c.columns = ([x[j] for j in keep] for x in
                                                           (c.levels, c.scores, c.prices, c.columns))
    return crits


def column_counts(off: dict, c: Criterion, measured: dict, reference: dict) -> list:
    """Per admissible amount-of-data level, y = ⌈AoC_t · |X_ref|⌉ capped at the offering's
    columns, as product() computes it (|X_ref| recovered from the measured AoC = |Y| / |X_ref|)."""
    ncols = len(off["columns"])
    aoc = measured.get("amount_of_data")
    n_ref = round((measured.get("columns") or ncols) / aoc) if aoc else ncols
    ref = reference.get("amount_of_data") or 1.0
    return [min(ncols, math.ceil(s * ref * n_ref - 1e-9)) for s in c.scores]


def quote_offering(off: dict, crit_rows: list, measured: dict, reference: dict, omega: dict,
                   bid: float, wanted: list, solver: str, n_reference_columns: int,
                   floors: dict | None = None, budget: float | None = None, always=(),
                   minimum: bool = False, with_greedy: bool = False) -> dict:
    """The quote of one offering for a bid: accepted or not, levels, price, product.

    ``budget`` is the knapsack's capacity when it differs from the bid (an upgrade: what was
    paid before plus this bid); ``always`` are columns every version includes (a free preview's);
    ``minimum`` prices the lowest version whatever the bid (a free preview); ``with_greedy``
    records what the paper's greedy would deliver on the same classes (seller analytics).
    """
    P = off["reserve_price"]
    cap = bid if budget is None else budget
    crits = priced_classes(off, crit_rows, measured, reference, floors)
    q = {"offering": off["name"], "solver": solver, "bid": bid, "accepted": False, "full_quality": False}
    if not crits:
        q["reason"] = "offering %s has no quality criteria to price" % off["name"]
        return q
    empty = [c.name for c in crits if not c.levels]
    if empty:
        q["reason"] = ("offering %s cannot deliver %s at the minimum level" % (off["name"], ", ".join(empty)))
        return q
    weights = [c.prices for c in crits]
    profits = [[omega.get(c.name, 0.0) * l for l in c.levels] for c in crits]
    min_cost = sum(w[0] for w in weights)
    if minimum:
        choice = [0] * len(crits)
        q.update(optimal=True, gap=0.0)
        trace = []
    elif cap >= P:
        choice = [len(c.levels) - 1 for c in crits]
        q.update(full_quality=True, optimal=True, gap=0.0)
        trace = []
    elif cap < min_cost:
        q.update(reason="bid %s is below the cheapest admissible version" % _num(bid),
                 minimum_bid=min_cost - (cap - bid))
        return q
    else:
        sol = mckp.solve(weights, profits, cap, method=solver)
        choice = sol.choice
        q.update(optimal=bool(sol.optimal), gap=float(sol.gap))
        if with_greedy:
            g = sol if solver == "greedy" else mckp.solve(weights, profits, cap, method="greedy")
            q["greedy"] = {"utility": float(g.profit), "residual": cap - float(g.weight)}
        trace = [{"criterion": crits[i].name, "level": _level(crits[i], j), "residual": cbar}
                 for (i, j, cbar) in sol.steps]
    q["accepted"] = True
    levels, cost, total_utility = {}, 0.0, 0.0
    for c, j in zip(crits, choice):
        u = omega.get(c.name, 0.0) * c.levels[j]
        entry = {"level": _level(c, j), "utility": u, "price": c.prices[j]}
        if c.contractual:
            tier = c.tier_of[j]
            entry["tier"] = tier
            entry["terms"] = c.tiers[tier - 1] if tier >= 1 else None
        else:
            entry["score"] = c.scores[j]
        levels[c.name] = entry
        cost += c.prices[j]
        total_utility += u
    q.update(utility=total_utility, cost=cost, residual=cap - cost, levels=levels)
    if with_greedy and "greedy" not in q:
        q["greedy"] = {"utility": total_utility, "residual": cap - cost}
    if trace:
        q["trace"] = trace
    q.update(product(off, levels, measured, reference, wanted, n_reference_columns, always))
    return q


def explain(q: dict, crits: list, omega: dict) -> dict:
    """What more would buy: per criterion the next level up, its price, and the smallest bid
    that buys this same version with that criterion one level higher (any bid from there on
    buys at least that utility); and the smallest bid that buys full quality (every criterion
    at its cap) — nothing a buyer could not learn by bidding."""
    held = {name: entry["level"] for name, entry in (q.get("levels") or {}).items()}
    base_cost = q.get("cost")
    out = {}
    for c in crits:
        cur = held.get(c.name)
        idx = next((j for j, l in enumerate(c.levels) if cur is not None and abs(l - cur) < 1e-9), None)
        if idx is None:
            idx = -1 if not q.get("accepted") else None
        if idx is None or idx + 1 >= len(c.levels):
            out[c.name] = {"next_level": None, "reason": "at the highest level this offering delivers"}
            continue
        nxt = idx + 1
        extra = c.prices[nxt] - (c.prices[idx] if idx >= 0 else 0.0)
        entry = {"next_level": _level(c, nxt), "price": c.prices[nxt], "extra": extra,
                 "utility_gain": omega.get(c.name, 0.0) * (c.levels[nxt] - (c.levels[idx] if idx >= 0 else 0))}
        if c.contractual:
            entry["terms"] = c.tiers[c.tier_of[nxt] - 1] if c.tier_of[nxt] >= 1 else None
        if base_cost is not None:
            entry["bid"] = base_cost + extra
        out[c.name] = entry
    full = sum(c.prices[-1] for c in crits) if crits and all(c.levels for c in crits) else None
    return {"next": out, "full_quality_bid": full}


def product(off: dict, levels: dict, measured: dict, reference: dict, wanted: list,
            n_reference_columns: int, always=()) -> dict:
    """docs/model.md §7: the columns, delay and completeness target the quote buys."""
    ncols = len(off["columns"])
    if "amount_of_data" in levels:
        share = levels["amount_of_data"]["score"] * (reference.get("amount_of_data") or 1.0)
        n = min(ncols, math.ceil(share * n_reference_columns - 1e-9))
    else:
        n = ncols
    delay = 0.0
    if "timeliness" in levels and off["volatility_seconds"]:
        delay = max(0.0, (1.0 - levels["timeliness"]["score"]) * off["volatility_seconds"])
    own_c = measured.get("completeness")
    target = own_c
    if "completeness" in levels and own_c is not None:
        target = min(own_c, levels["completeness"]["score"] * (reference.get("completeness") or own_c))
    return {"columns": project(off, n, wanted, always), "delay": format_interval(delay), "delay_seconds": delay,
            "completeness_target": target}


def _level(c: Criterion, j: int):
    lv = c.levels[j]
    return int(lv) if float(lv).is_integer() else lv


def _num(x: float) -> str:
    return ("%.2f" % x).rstrip("0").rstrip(".")


def best_of(quotes: list) -> dict:
    """The best quote of a comparison group: accepted first, then utility, then cheaper."""
    ranked = sorted(quotes, key=lambda q: (not q["accepted"], -q.get("utility", 0.0),
                                           q.get("cost", math.inf), q["offering"]))
    best = dict(ranked[0])
    best["alternatives"] = [{k: q[k] for k in ("offering", "accepted", "utility", "cost", "reason",
                                               "minimum_bid") if k in q}
                            for q in ranked[1:]]
    if not best["accepted"]:
        mins = [q["minimum_bid"] for q in quotes if "minimum_bid" in q]
        if mins:
            best["minimum_bid"] = min(mins)
    return best
