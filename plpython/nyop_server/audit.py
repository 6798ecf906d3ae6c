"""The arbitrage audit of an offering's price table (nyop_audit; warnings at registration).

Why the audit is what it is: versions combine by their best member in every
criterion (column sets by union — projections of one offering are nested —,
masks by the highest threshold, delays by the smallest). With additive prices
``price(V) = Σ_i w_i(l_i)``, any set of versions that together reveal V costs
at least Σ_i w_i(max level) = price(V) as long as every price is ≥ 0 and a
higher level never costs less. So the audit checks exactly those two facts per
criterion, and confirms them on small tables by brute force over pairs.
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
    return {"ok": not problems, "problems": problems, "criteria": checks,
            "method": "monotone non-negative additive prices (see nyop_server.audit)"}


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
