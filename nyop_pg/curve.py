"""``nyop-pg curve``: what each bid buys -- the buyer's utility and every criterion's level
against the bid, with the ask price marked. One ``nyop_quote`` per bid in the range, with the
rights of whoever connects (a buyer, or the operator). matplotlib is an optional extra:
``pip install 'nyop-pg[plot]'``.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal

from .errors import CLIError, connect

COLORS = ["C1", "C2", "C4", "C5", "C6", "C8", "C9", "C7"]     # C0 utility, C3 the ask
PLOT_HINT = "pip install 'nyop-pg[plot]'  (or: pip install matplotlib)"


def parse_range(text: str | None) -> tuple | None:
    if text is None:
        return None
    try:
        lo, hi = (float(x) for x in text.split(":"))
    except ValueError:
        raise CLIError(f"--bids must be FROM:TO (two numbers), got {text!r}", "e.g. --bids 100:1300") from None
    if not (0 < lo < hi) or hi == float("inf"):
        raise CLIError(f"--bids needs 0 < FROM < TO, got {text!r}", "e.g. --bids 100:1300")
    return lo, hi


def parse_preferences(text: str) -> dict:
    try:
        prefs = json.loads(text)
    except ValueError as e:
        raise CLIError(f"--preferences is not JSON: {e}", '--preferences \'{"timeliness": 0.35, "amount_of_data": 0.5}\'') \
            from None
    if not isinstance(prefs, dict) or not prefs:
        raise CLIError("--preferences must be a JSON object of weights per criterion",
                       '--preferences \'{"timeliness": 0.35, "amount_of_data": 0.5}\'')
    return prefs


def asks(conn, offering: str) -> dict:
    """{offering: ask price} of the offering, or of a comparison group's members."""
    import psycopg
    try:
        with conn.transaction():
            rows = conn.execute("SELECT offering, ask_price::float8 FROM nyop.market "
                                "WHERE offering = %s OR comparison_group = %s ORDER BY offering",
                                (offering, offering)).fetchall()
        if rows:
            return dict(rows)
    except psycopg.Error:   # nyop.market not readable by this role: the explain's full-quality bid
        pass
    return {}


def points(conn, offering: str, preferences: dict, lo: float, hi: float, steps: int, extra=()) -> list:
    """[(bid, quote)] for ``steps`` bids from lo to hi (and the ``extra`` bids within it: the
    asks), quoted with this connection's rights."""
    prefs = json.dumps(preferences)
    n = max(2, steps)
    bids = {Decimal(str(round(lo + (hi - lo) * i / (n - 1), 2))) for i in range(n)}
    bids |= {Decimal(str(round(x, 2))) for x in extra if lo <= x <= hi}
    out = []
    for bid in sorted(bids):
        q = conn.execute("SELECT nyop_quote(%s, %s, %s::jsonb)", (offering, bid, prefs)).fetchone()[0]
        out.append((float(bid), q))
    return out


def plot(offering: str, pts: list, ask: dict, out: str, now: str | None = None) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CLIError("this needs matplotlib, which is not installed", PLOT_HINT) from None
    bids = [b for b, _ in pts]
    util = [q["utility"] if q.get("accepted") else float("nan") for _, q in pts]
    criteria = []
    for _, q in pts:
        for k in (q.get("levels") or {}):
            if k not in criteria:
                criteria.append(k)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 6.5),
                                        gridspec_kw={"height_ratios": (3, 2)})
    top.step(bids, util, where="post", color="C0", linewidth=2, label="utility")
    top.set_ylabel("utility for the buyer")
    for k, crit in enumerate(criteria):
        lv = [(q["levels"][crit]["level"] if q.get("accepted") and crit in q.get("levels", {}) else float("nan"))
              for _, q in pts]
        bottom.step(bids, [v + (k - (len(criteria) - 1) / 2) * 0.08 for v in lv], where="post",
                    color=COLORS[k % len(COLORS)], linewidth=1.8, label=crit)
    bottom.set_ylabel("level bought")
    bottom.set_xlabel("bid")
    bottom.legend(loc="lower right", fontsize="small")
    rejected = [b for (b, q) in pts if not q.get("accepted")]
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        if rejected:
            ax.axvspan(min(rejected), max(rejected), color="0.85", zorder=0)
        for name, price in ask.items():
            ax.axvline(price, color="C3", linestyle="--", linewidth=1.2)
    for name, price in ask.items():          # at the foot of the line: a rising curve is high there
        label = f"ask {price:g}" if len(ask) == 1 else f"ask {name} {price:g}"
        top.annotate(label, xy=(price, 0.03), xycoords=("data", "axes fraction"), xytext=(-4, 0),
                     textcoords="offset points", ha="right", va="bottom", color="C3", fontsize="small")
    if rejected:
        top.annotate("rejected", xy=(min(rejected), 0.97), xycoords=("data", "axes fraction"), xytext=(4, 0),
                     textcoords="offset points", ha="left", va="top", color="0.4", fontsize="small")
    title = f"{offering}: what each bid buys"
    if now:
        title += f" (now = {now})"
    top.set_title(title)
    fig.tight_layout()
    fmt = os.path.splitext(out)[1].lower().lstrip(".")
    meta = {"Date": None} if fmt == "svg" else {}
    fig.savefig(out, format=fmt, dpi=150, metadata=meta)
    plt.close(fig)


def main(args) -> int:
    fmt = os.path.splitext(args.out)[1].lower()
    if fmt not in (".png", ".svg"):
        raise CLIError(f"--out must end in .png or .svg, got {args.out!r}")
    try:
        import matplotlib  # noqa: F401  (before connecting: say so at once)
    except ImportError:
        raise CLIError("this needs matplotlib, which is not installed", PLOT_HINT) from None
    prefs = parse_preferences(args.preferences)
    rng = parse_range(args.bids)
    if args.steps < 2 or args.steps > 2000:
        raise CLIError(f"--steps must be between 2 and 2000, got {args.steps}")
    with connect(args.dsn, autocommit=True) as conn:
        if args.now:
            conn.execute("SELECT set_config('nyop.now', %s, false)", (args.now,))
        ask = asks(conn, args.offering)
        if not ask:
            e = conn.execute("SELECT nyop_explain(%s, 1, %s::jsonb)", (args.offering, json.dumps(prefs))).fetchone()[0]
            ask = {args.offering: float(e["full_quality_bid"])}
        top_ask = max(ask.values())
        lo, hi = rng or (top_ask / 10, top_ask * 1.1)
        pts = points(conn, args.offering, prefs, lo, hi, args.steps, extra=ask.values())
        now = conn.execute("SELECT nyop.clock()::text").fetchone()[0] if args.now else None
    plot(args.offering, pts, ask, args.out, now=now)
    acc = [(b, q) for b, q in pts if q.get("accepted")]
    if acc:
        what = (f"utility {acc[0][1]['utility']:.2f} at {acc[0][0]:g} -> {acc[-1][1]['utility']:.2f} at {acc[-1][0]:g}"
                + (f" (bids below {acc[0][0]:g} rejected)" if len(acc) < len(pts) else ""))
    else:
        what = "every bid rejected"
    print(f"{args.out}: {len(pts)} bids from {lo:g} to {hi:g}; {what}")
    return 0
