"""The arbitrage audit of an offering's price table (nyop_audit; warnings at registration).

Why the audit is what it is: versions combine by their best member in every
criterion (column sets by union — projections of one offering are nested —,
masks by the highest threshold, delays by the smallest). With additive prices
``price(V) = Σ_i w_i(l_i)``, any set of versions that together reveal V costs
at least Σ_i w_i(max level) = price(V) as long as every price is ≥ 0 and a
higher level never costs less. So the audit checks exactly those two facts per
criterion, and confirms them on small tables by brute force over pairs.

Column sets are chosen by buyers, so they do not nest: two versions whose amount-of-data
levels deliver a and b columns (keys included, k of them) may name different columns and
together hold up to min(|Y|, a + b − k) of them — which a single version sells only at the
level whose ⌈AoC·|X_ref|⌉ covers that many. One buyer cannot split columns (holdings combine,
MODEL §8: a re-bid is an upgrade to the union), but buyers who pool their views, or one buyer
under textually different scopes, can. So when the amount-of-data class says how many
columns each level delivers, the audit also checks every pair of versions against the
cheapest version that holds their worst-case union (``column_sets``); pairs suffice, as the
covering version is itself a version (induction over more bids).
"""

from __future__ import annotations

import itertools



def audit(crits: list) -> dict:
    """Audit priced classes (model.Criterion with levels and prices)."""
    problems, checks = [], []
    for c in crits:
        ps = c.prices
        neg = [c.levels[j] for j, p in enumerate(ps) if p < 0]
        if neg:
            problems.append("%s: negative price at level %s" % (c.name, neg[0]))
        for j in range(1, len(ps)):
            if ps[j] < ps[j - 1] - 1e-9:
                problems.append("%s: level %s costs %.2f, less than level %s at %.2f"
                                % (c.name, _lv(c.levels[j]), ps[j], _lv(c.levels[j - 1]), ps[j - 1]))
        checks.append({"criterion": c.name, "levels": [_lv(l) for l in c.levels], "prices": ps})
    if not problems:
        problems += _pairs(crits)
    out = {"ok": not problems, "problems": problems, "criteria": checks,
           "method": "monotone non-negative additive prices (see nyop_server.audit)"}
    aod = next((c for c in crits if getattr(c, "columns", None)), None)
    if aod is not None and len(aod.columns) == len(aod.prices):
        found = column_sets(crits) if not problems else []
        out["column_sets"] = {"ok": not found, "levels": [_lv(l) for l in aod.levels],
                              "columns": list(aod.columns)}
        if found:
            problems += found
            out["ok"] = False
    return out


def column_sets(crits: list) -> list:
    """Column-set arbitrage: two versions naming different columns hold their union. Returns
    the first pair whose price is below that of the cheapest version holding what they hold
    together (its other criteria at the better of the two; each of the two pays at least
    every other criterion's lowest price, hence ``slack``)."""
    aod = next((c for c in crits if getattr(c, "columns", None)), None)
    if aod is None or not aod.levels:
        return []
    k = getattr(aod, "kept", 0)
    total = getattr(aod, "n_columns", max(aod.columns))
    delivered = [max(k, n) for n in aod.columns]
    slack = sum(c.prices[0] for c in crits if c is not aod and c.prices)
    for a in range(len(delivered)):
        for b in range(a, len(delivered)):
            union = min(total, delivered[a] + delivered[b] - k)
            cover = next((j for j in range(len(delivered)) if delivered[j] >= union), None)
            if cover is None:
                return ["amount_of_data: versions at levels %s and %s name different columns and together "
                        "hold %d columns, more than any version sells (%d)"
                        % (_lv(aod.levels[a]), _lv(aod.levels[b]), union, delivered[-1])]
            top = max(a, b, cover)
            if aod.prices[a] + aod.prices[b] + slack < aod.prices[top] - 1e-9:
                return ["amount_of_data: versions at levels %s and %s (%d and %d columns) name different "
                        "columns and together hold %d, which cost level %s at %.2f > %.2f"
                        % (_lv(aod.levels[a]), _lv(aod.levels[b]), delivered[a], delivered[b], union,
                           _lv(aod.levels[top]), aod.prices[top], aod.prices[a] + aod.prices[b] + slack)]
    return []


def _pairs(crits: list, limit: int = 4000) -> list:
    """Brute force on small tables: no two versions together reveal a third for less."""
    space = 1
    for c in crits:
        space *= max(1, len(c.levels))
    if space > limit or not all(c.levels for c in crits):
        return []
    versions = list(itertools.product(*[range(len(c.levels)) for c in crits]))
    price = {v: sum(c.prices[j] for c, j in zip(crits, v)) for v in versions}
    out = []
    for a, b in itertools.combinations(versions, 2):
        top = tuple(max(x, y) for x, y in zip(a, b))
        if price[a] + price[b] < price[top] - 1e-9:
            out.append("versions %s and %s together reveal %s for %.2f < %.2f"
                       % (a, b, top, price[a] + price[b], price[top]))
            break
    return out


def _lv(l):
    return int(l) if float(l).is_integer() else l
