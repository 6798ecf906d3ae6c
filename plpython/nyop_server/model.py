"""The pricing model of docs/model.md §3–4: utility levels, quality scores
required per level, caps from measured quality, benefits and prices.

Plain Python: everything a quote needs is computed here from numbers the edge
has already fetched, so it can be tested (and reasoned about) without a server.
"""

from __future__ import annotations

import math
import re
from collections import namedtuple

from .errors import InvalidParameter

MEASURED = ("completeness", "timeliness", "amount_of_data")
DEFAULT_TIERS = 3            # Goldilocks: tiers 1..3 sit at levels 0.3m, 0.6m, 0.9m (3, 6, 9 for m = 10)
LOG_X_MAX = 100.0            # domain [0, x_max] of the log utility
EPS = 1e-9


# -- utility functions ---------------------------------------------------------

class Utility(namedtuple("Utility", "kind a", defaults=(2.0,))):
    """f and f⁻¹ up to scale. ``kind`` is 'root' (a = exponent of f⁻¹) or 'log'. (An immutable
    named tuple, not a dataclass: importing ``dataclasses`` costs a session's first call ~8 ms.)"""
    __slots__ = ()

    def base(self, frac: float) -> float:
        """f⁻¹(l) / f⁻¹(l_top) for l / l_top = frac: the score needed, before thresholds."""
        if frac <= 0:
            return 0.0
        if frac >= 1:
            return 1.0          # exactly: expm1(log1p(x)) / x can round above 1
        if self.kind == "log":
            x_top = LOG_X_MAX
            return math.expm1(frac * math.log1p(x_top)) / x_top
        return frac ** self.a

    @property
    def name(self) -> str:
        if self.kind == "log":
            return "log"
        return "sqrt" if self.a == 2 else "root:%g" % self.a


def parse_utility(text: str | None) -> Utility:
    """'sqrt' (default), 'log', 'linear', or 'root:a' / 'root(a)' with a ≥ 1."""
    t = (text or "sqrt").strip().lower()
    if t == "sqrt":
        return Utility("root", 2.0)
    if t == "log":
        return Utility("log")
    if t == "linear":
        return Utility("root", 1.0)
    m = re.fullmatch(r"root\s*[:(]\s*([0-9]+(?:\.[0-9]+)?)\s*\)?", t)
    if m:
        a = float(m.group(1))
        if 1 <= a <= 20:
            return Utility("root", a)
    raise InvalidParameter(
        "utility %r is not known" % (text,),
        hint="use 'sqrt' (default), 'log', 'linear' or 'root:a' with 1 <= a <= 20")


# -- criteria and their levels ---------------------------------------------------

class Criterion:
    """One class of the MCKPP: the admissible levels of one quality criterion. (A plain class,
    not a dataclass: see :class:`Utility`.)"""

    def __init__(self, name: str, kappa: float, pricing: str = "score", threshold: float = 0.0,
                 min_level: int = 1, tiers: list | None = None):
        self.name = name
        self.kappa = kappa                 # provider weight (normalised later)
        self.pricing = pricing
        self.threshold = threshold
        self.min_level = min_level         # a level index; for contractual criteria a tier
        self.tiers = tiers                 # contractual criteria only
        # filled by build_classes
        self.levels = []                   # utility levels l_j offered (admissible)
        self.scores = []                   # QS_j (None for contractual)
        self.prices = []                   # w_ij
        self.tier_of = []                  # tier index per admissible level (contractual)

    def __repr__(self):
        return "Criterion(%r, levels=%r, prices=%r)" % (self.name, self.levels, self.prices)

    @property
    def contractual(self) -> bool:
        return self.name not in MEASURED


def data_level_scores(utility: Utility, m: int, threshold: float = 0.0) -> list:
    """QS_j for j = 0..m: the normalised quality score required to reach level j."""
    return [threshold + (1.0 - threshold) * utility.base(j / m) if j else 0.0 for j in range(m + 1)]


def contractual_top(m: int) -> float:
    """The utility of a contractual criterion's top tier: 0.9 m (Goldilocks levels scale with m,
    so a top tier is never worth more utility than a top measured level)."""
    return 9 * m / 10


def tier_level(t: int, k: int, m: int) -> float:
    """Utility level of tier t of k with m data levels: 0.9 m · t / k (3, 6, 9 for k = 3, m = 10)."""
    return 9 * m * t / (10 * k)


def level_cap(scores: list, own: float, ref: float) -> int:
    """Highest level j whose required score the offering reaches: QS_j ≤ own / ref.

    A reference score of 0 (every row older than the volatility window, say) — or none at
    all — leaves nothing to degrade: every level delivers the as-is data, so all are
    deliverable."""
    if own is None or ref is None or ref <= 0:
        return len(scores) - 1
    rel = own / ref
    cap = 0                                # QS_0 = 0: level 0 is always reached
    for j in range(1, len(scores)):
        if scores[j] <= rel + EPS:
            cap = j
    return cap


def price(P: float, kappa: float, utility: Utility, pricing: str, level: float, top: float) -> float:
    """w_ij: score pricing P κ f⁻¹(l)/f⁻¹(l_top); utility pricing P κ l/l_top."""
    if pricing == "utility":
        return P * kappa * level / top
    return P * kappa * utility.base(level / top)


def build_classes(criteria: list, P: float, utility: Utility, m: int,
                  measured: dict, reference: dict) -> list:
    """Fill levels/scores/prices of every criterion: the classes of the MCKPP.

    ``measured`` holds the offering's own scores, ``reference`` the reference
    scores (own for a lone offering, the group maximum in a comparison group).
    κ is normalised over the criteria. A criterion whose cap lies below its
    minimum level (a group member far behind the group's best) has no admissible
    level: the offering cannot serve it. A lone offering always reaches its top level.
    """
    total = sum(c.kappa for c in criteria)
    if total <= 0:
        raise InvalidParameter("the provider weights of the offering's criteria are all zero")
    for c in criteria:
        kappa = c.kappa / total
        if c.contractual:
            k = len(c.tiers or []) or DEFAULT_TIERS
            tiers = range(max(c.min_level, 0), k + 1)
            c.levels = [tier_level(t, k, m) for t in tiers]
            c.tier_of = list(tiers)
            c.scores = [None] * len(c.levels)
            # priced on t / k (= l / l_top exactly, whatever m)
            c.prices = [price(P, kappa, utility, c.pricing, t, k) for t in tiers]
        else:
            qs = data_level_scores(utility, m, c.threshold)
            cap = level_cap(qs, measured.get(c.name), reference.get(c.name))
            js = list(range(max(c.min_level, 0), cap + 1))
            c.levels = [float(j) for j in js]
            c.scores = [qs[j] for j in js]
            c.tier_of = []
            c.prices = [price(P, kappa, utility, c.pricing, j, m) for j in js]
    return criteria


def normalise_preferences(prefs, known: list) -> dict:
    """ω from the buyer's jsonb: non-negative numbers for known criteria, normalised to sum 1."""
    if not isinstance(prefs, dict):
        raise InvalidParameter("preferences must be a JSON object of criterion -> weight, got %s"
                               % type(prefs).__name__,
                               hint='e.g. {"timeliness": 0.35, "amount_of_data": 0.5}')
    if not prefs:
        raise InvalidParameter("preferences are empty: give at least one criterion with a weight > 0")
    out = {}
    for k, v in prefs.items():
        if k not in known:
            raise InvalidParameter("preferences name an unknown criterion %r" % (k,),
                                   hint="known criteria: %s" % ", ".join(known))
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidParameter("preference weight of %r must be a number, got %r" % (k, v))
        try:
            v = float(v)
        except OverflowError:
            v = math.inf
        if math.isnan(v) or math.isinf(v) or v < 0:
            raise InvalidParameter("preference weight of %r must be a finite number >= 0, got %.6g" % (k, v))
        out[k] = v
    mx = max(out.values())
    if mx <= 0:
        raise InvalidParameter("preference weights are all zero: give at least one weight > 0")
    # scale by the largest first: huge finite weights must not overflow the sum
    s = math.fsum(v / mx for v in out.values())
    return {k: out.get(k, 0.0) / mx / s for k in known}
