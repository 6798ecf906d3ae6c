"""The benchmark report's table and its ratio-against-target chart (issue 12), without a server."""

from __future__ import annotations

from nyop_pg.bench import Report


def report(*figs):
    rep = Report()
    for part, metric, ours, base, target in figs:
        rep.add(part, metric, ours, base, target)
    return rep


def bar_of(line: str) -> str:
    return line.split("  ", 1)[1].rsplit(" ", 3)[0]


def test_chart_marks_the_target_at_the_same_column_for_every_figure():
    rep = report(("views", "full scan (delay)", 6.0, 2.0, 2.0), ("large", "bid (vs 10k)", 0.3, 1.0, 1.5),
                 ("large", "update", 3.0, 1.0, 3.0), ("views", "masked", 5.0, 1.0, 2.0))
    lines = rep.chart(width=20)
    body = lines[lines.index("```") + 1: -1]
    assert len(body) == 4
    columns = {line.index("│") if "│" in line else line.index("┼") for line in body}
    assert len(columns) == 1
    miss, met, exact, far = body
    assert "┼" in miss and miss.rstrip().endswith("3 / 2") and "»" not in miss and miss.count("█") == 15
    assert far.count("█") == 20 and "»" in far                                   # 2.5 × target: cut at 2×
    assert "│" in met and met.count("█") == round(0.2 * 10)
    assert "│" in exact and exact.count("█") == 10                               # exactly the target: met


def test_markdown_has_table_chart_and_notes():
    rep = report(("large", "first quote (vs 10k)", 1.64, 1.0, 1.5))
    rep.notes.append("a note")
    md = rep.markdown()
    assert "| large | first quote (vs 10k) | 1.640 | 1.000 | 1.640 | ≤ 1.5 | **no** |" in md
    assert "Ratio against target" in md and "- a note" in md
    assert md.index("Ratio against target") < md.index("- a note")


def test_chart_skips_figures_without_a_ratio():
    rep = report(("large", "no baseline", 1.0, 0.0, 1.5))
    assert rep.chart() == []


def test_a_narrow_miss_still_crosses_the_target():
    line = report(("views", "scan", 2.04, 1.0, 2.0)).chart(width=40)[3]
    assert "┼" in line and line.count("█") == 21


def test_solver_table_shows_0_2_0_beside_the_shapes_it_was_measured_on():
    """Issue 16: the pricing shapes against 0.2.0's solver, a column of the solver table."""
    rep = Report()
    for shape, old in (("100x10 bid 1000", 3.0), ("100x100 bid 1000", None)):
        rep.add("solver", f"exact via SQL, {shape} (vs HiGHS milp)", 4.0, 400.0, 0.1, ours_max_ms=5.0,
                baseline_max_ms=500.0, in_process_median_ms=3.0, in_process_max_ms=3.5, greedy_median_ms=1.0,
                greedy_max_ms=1.5, instances=20)
        if old:
            rep.add("solver", f"exact via SQL against 0.2.0, {shape} (vs 0.2.0's exact solver via SQL, alternately)",
                    4.0, old, 1.0, ours_max_ms=5.0, baseline_max_ms=6.25, instances=20)
    md = rep.markdown()
    assert "| shape (20 instances) | exact in-process | exact via SQL | greedy | HiGHS milp | 0.2.0's exact via SQL |" in md
    assert "| 100x10 bid 1000 | 3.00 / 3.50 | 4.00 / 5.00 | 1.00 / 1.50 | 400.0 / 500.0 | 3.00 / 6.25 |" in md
    assert "| 100x100 bid 1000 | 3.00 / 3.50 | 4.00 / 5.00 | 1.00 / 1.50 | 400.0 / 500.0 | |" in md
    # the figure itself: a ratio against 0.2.0, target 1 (at or below its time)
    assert "| solver | exact via SQL against 0.2.0, 100x10 bid 1000 (vs 0.2.0's exact solver via SQL, alternately) " \
           "| 4.000 | 3.000 | 1.333 | ≤ 1.0 | **no** |" in md


def test_solver_table_without_0_2_0_keeps_its_five_columns():
    rep = Report()
    rep.add("solver", "exact via SQL, 100x10 bid 1000 (vs HiGHS milp)", 4.0, 400.0, 0.1, ours_max_ms=5.0,
            baseline_max_ms=500.0, in_process_median_ms=3.0, in_process_max_ms=3.5, greedy_median_ms=1.0,
            greedy_max_ms=1.5, instances=20)
    md = rep.markdown()
    assert "| shape (20 instances) | exact in-process | exact via SQL | greedy | HiGHS milp |\n" in md
    assert "| 100x10 bid 1000 | 3.00 / 3.50 | 4.00 / 5.00 | 1.00 / 1.50 | 400.0 / 500.0 |\n" in md
