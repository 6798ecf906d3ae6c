"""The arbitrage audit without a server (nyop_server.audit; market.py before the handlers
split): every branch of audit(), and _pairs on its own — the brute force the monotone
checks make redundant on sane tables, so it is driven directly with tables those checks
would refuse."""

from __future__ import annotations

import pytest

try:
    from nyop_server import audit as market
except ImportError:                      # before the handlers/services split
    from nyop_server import market
from nyop_server.model import Criterion


def crit(name, levels, prices):
    c = Criterion(name=name, kappa=1.0)
    c.levels, c.prices = list(levels), list(prices)
    return c


def test_clean_table_is_ok_and_reported():
    cs = [crit("completeness", [1.0, 2.0, 3.0], [0.0, 5.0, 5.0]),
          crit("customer_support", [3.0, 4.5, 9.0], [1.0, 2.0, 7.0])]
    out = market.audit(cs)
    assert out == {"ok": True, "problems": [],
                   "criteria": [{"criterion": "completeness", "levels": [1, 2, 3], "prices": [0.0, 5.0, 5.0]},
                                {"criterion": "customer_support", "levels": [3, 4.5, 9], "prices": [1.0, 2.0, 7.0]}],
                   "method": "monotone non-negative additive prices (see %s)" % market.__name__}
    assert [type(x) for x in out["criteria"][1]["levels"]] == [int, float, int]


def test_negative_price_is_one_problem_named_by_its_first_level():
    out = market.audit([crit("timeliness", [1.0, 2.0, 3.0], [-2.0, -1.0, 4.0])])
    # only the first negative level is named, and the pair search does not run on a refused table
    assert out["ok"] is False
    assert out["problems"] == ["timeliness: negative price at level 1.0"]


def test_zero_price_is_not_negative():
    assert market.audit([crit("t", [0.0, 1.0], [0.0, 0.0])])["ok"] is True


def test_decreasing_price_each_step_reported():
    out = market.audit([crit("amount_of_data", [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.5, 2.0])])
    assert out["problems"] == ["amount_of_data: level 3 costs 2.50, less than level 2 at 3.00",
                               "amount_of_data: level 4 costs 2.00, less than level 3 at 2.50"]
    assert out["ok"] is False


def test_decrease_within_round_off_is_tolerated():
    assert market.audit([crit("c", [1.0, 2.0], [3.0, 3.0 - 5e-10])])["ok"] is True
    assert market.audit([crit("c", [1.0, 2.0], [3.0, 3.0 - 2e-9])])["ok"] is False
    assert market.audit([crit("c", [1.0, 2.0], [1.0, 1.0 - 1e-9])])["ok"] is True      # exactly the margin


def test_problems_of_two_criteria_in_order():
    out = market.audit([crit("a", [1.0, 2.0], [-1.0, 0.0]), crit("b", [1.0, 2.0], [2.0, 1.0])])
    assert out["problems"] == ["a: negative price at level 1.0",
                               "b: level 2 costs 1.00, less than level 1 at 2.00"]


def test_pairs_finds_two_versions_revealing_a_third_for_less():
    # a negative price makes two cheap versions together reveal a dear one
    cs = [crit("a", [1.0, 2.0, 3.0], [0.0, -5.0, 3.0])]
    out = market._pairs(cs)
    assert out == ["versions (1,) and (2,) together reveal (2,) for -2.00 < 3.00"]
    # only the first witness is reported
    cs = [crit("a", [1.0, 2.0, 3.0], [0.0, -5.0, 3.0]), crit("b", [1.0, 2.0, 3.0], [0.0, -5.0, 3.0])]
    assert market._pairs(cs) == ["versions (0, 1) and (0, 2) together reveal (0, 2) for -2.00 < 3.00"]


def test_pairs_equal_sum_is_not_a_problem():
    # price(a) + price(b) == price(top): no saving, no problem (strict <, with a 1e-9 margin)
    cs = [crit("a", [1.0, 2.0], [0.0, 2.0]), crit("b", [1.0, 2.0], [0.0, 2.0])]
    assert market._pairs(cs) == []
    cs = [crit("a", [1.0, 2.0], [1.0, -0.5e-9])]
    assert market._pairs(cs) == []


def test_pairs_limits():
    bad = [crit("a", [1.0, 2.0, 3.0], [0.0, -5.0, 3.0])]
    assert market._pairs(bad, limit=3) != []              # space 3 == limit: searched
    assert market._pairs(bad, limit=2) == []              # space 3 > limit: skipped
    assert market._pairs(bad + [crit("empty", [], [])]) == []     # a class without levels: nothing to pair
    flat = lambda name, k: crit(name, [float(j) for j in range(k)], [0.0] * k)
    neg = lambda k: crit("n", [float(j) for j in range(k)], [0.0, -5.0] + [3.0] * (k - 2))
    # the default limit: 4000 versions are searched, 4001 are not
    assert len(market._pairs([flat("x", 10), flat("y", 10), neg(40)])) == 1
    assert market._pairs([neg(4001)]) == []
    assert market._pairs([flat("x", 6), flat("y", 6), flat("z", 6)]) == []      # searched, clean


def test_pairs_space_is_the_product_of_the_class_sizes():
    flat = lambda name, k: crit(name, [float(j) for j in range(k)], [0.0] * k)
    bad = crit("n", [1.0, 2.0, 3.0], [0.0, -5.0, 3.0])
    assert market._pairs([bad, flat("x", 2)], limit=5) == []          # 3 · 2 = 6 > 5
    assert market._pairs([bad, flat("x", 2)], limit=6) != []
    assert market._pairs([flat("one", 1), bad], limit=3) != []        # a one-level class counts 1


def test_pairs_margin():
    # together exactly 1e-9 cheaper: within the round-off margin, not a problem
    assert market._pairs([crit("a", [1.0, 2.0, 3.0], [0.0, -1e-9, 1.0])]) == []
    # half a unit cheaper: a problem
    assert market._pairs([crit("a", [1.0, 2.0, 3.0], [0.0, -0.5, 0.0])]) == [
        "versions (1,) and (2,) together reveal (2,) for -0.50 < 0.00"]


def test_pairs_space_counts_empty_classes_as_one():
    # max(1, len(levels)): an empty class neither zeroes the product nor is paired
    bad = [crit("a", [1.0, 2.0, 3.0], [0.0, -5.0, 3.0]), crit("e", [], [])]
    assert market._pairs(bad, limit=3) == []


def test_audit_runs_pairs_only_on_clean_tables(monkeypatch):
    calls = []
    monkeypatch.setattr(market, "_pairs", lambda cs: calls.append(cs) or ["pair problem"])
    clean = [crit("a", [1.0], [1.0])]
    out = market.audit(clean)
    assert out["problems"] == ["pair problem"] and out["ok"] is False and calls == [clean]
    calls.clear()
    market.audit([crit("a", [1.0], [-1.0])])
    assert calls == []


def test_lv():
    assert market._lv(3.0) == 3 and isinstance(market._lv(3.0), int)
    assert market._lv(4.5) == 4.5
    assert market._lv(2) == 2


# -- column sets (buyers name different columns; two versions hold their union) --------------

def aod(levels, prices, columns, kept=None, n_columns=None):
    c = crit("amount_of_data", levels, prices)
    c.columns = list(columns)
    if kept is not None:
        c.kept = kept
    if n_columns is not None:
        c.n_columns = n_columns
    return c


def test_column_sets_nothing_to_check():
    assert market.column_sets([crit("timeliness", [1.0], [1.0])]) == []
    assert market.column_sets([aod([], [], [])]) == []


def test_column_sets_union_beyond_every_version():
    # 1 key; levels deliver 2 and 3 columns of 5: two buyers at the top hold 3 + 3 − 1 = 5 > 3
    out = market.column_sets([aod([1.0, 2.0], [1.0, 2.0], [2, 3], kept=1, n_columns=5)])
    assert out == ["amount_of_data: versions at levels 1 and 2 name different columns and together hold 4 "
                   "columns, more than any version sells (3)"]


def test_column_sets_union_cheaper_than_its_cover():
    c = aod([1.0, 2.0, 3.0], [1.0, 2.0, 10.0], [2, 4, 5], kept=1, n_columns=5)
    assert market.column_sets([c]) == [
        "amount_of_data: versions at levels 1 and 2 (2 and 4 columns) name different columns and together "
        "hold 5, which cost level 3 at 10.00 > 3.00"]
    # each of the two versions pays every other criterion's lowest price too: with 8 more, no saving
    other = crit("timeliness", [1.0, 2.0], [8.0, 9.0])
    assert market.column_sets([c, other]) == []
    assert market.column_sets([c, crit("timeliness", [1.0], [6.999])]) != []


def test_column_sets_equal_price_is_fine_and_keys_are_delivered_anyway():
    # (0,0): 2 + 2 − 1 = 3 columns, covered by level 2 at exactly 1 + 1
    assert market.column_sets([aod([1.0, 2.0], [1.0, 2.0], [2, 3], kept=1, n_columns=3)]) == []
    # a level that delivers fewer columns than there are keys delivers the keys
    assert market.column_sets([aod([1.0, 2.0], [1.0, 2.0], [0, 2], kept=2, n_columns=2)]) == []


def test_column_sets_defaults_no_keys_and_the_widest_level():
    # no kept / n_columns: 0 keys, total = the widest level (4): 2 + 2 = 4 covered by level 2
    c = aod([1.0, 2.0], [1.0, 5.0], [2, 4])
    assert market.column_sets([c]) == [
        "amount_of_data: versions at levels 1 and 1 (2 and 2 columns) name different columns and together "
        "hold 4, which cost level 2 at 5.00 > 2.00"]


def test_audit_reports_column_sets():
    c = aod([1.0, 2.0, 3.0], [1.0, 2.0, 10.0], [2, 4, 5], kept=1, n_columns=5)
    out = market.audit([c])
    assert out["ok"] is False
    assert out["column_sets"] == {"ok": False, "levels": [1, 2, 3], "columns": [2, 4, 5]}
    assert out["problems"] == market.column_sets([c])
    ok = market.audit([aod([1.0, 2.0], [1.0, 2.0], [2, 3], kept=1, n_columns=3)])
    assert ok["ok"] is True and ok["column_sets"] == {"ok": True, "levels": [1, 2], "columns": [2, 3]}
    # a refused table is not checked for column sets
    bad = market.audit([aod([1.0, 2.0], [2.0, 1.0], [2, 3], kept=1, n_columns=3)])
    assert bad["column_sets"]["ok"] is True and len(bad["problems"]) == 1
    # column counts that do not match the levels: no column-set check
    assert "column_sets" not in market.audit([aod([1.0, 2.0], [1.0, 2.0], [2])])
    assert "column_sets" not in market.audit([crit("timeliness", [1.0], [1.0])])


def test_column_sets_edges():
    # the largest version is named when a union outgrows every version (3 levels: the last, 4)
    c = aod([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [2, 3, 4], kept=1, n_columns=9)
    assert market.column_sets([c]) == [
        "amount_of_data: versions at levels 1 and 3 name different columns and together hold 5 columns, "
        "more than any version sells (4)"]
    # the union is priced at the highest of the two levels and the covering one
    c = aod([1.0, 2.0, 3.0], [0.0, 5.0, 1.0], [1, 3, 3], kept=1, n_columns=3)
    assert market.column_sets([c]) == []
    # exactly the 1e-9 margin cheaper: not a problem
    s = 1.0 - 1e-9
    c = aod([1.0, 2.0], [0.0, 1.0], [2, 3], kept=1, n_columns=3)
    assert market.column_sets([c, crit("timeliness", [1.0], [s])]) == []
    # the other criteria's lowest prices are part of what the two versions cost
    c = aod([1.0, 2.0, 3.0], [1.0, 2.0, 10.0], [2, 4, 5], kept=1, n_columns=5)
    assert market.column_sets([c, crit("timeliness", [1.0], [0.5])]) == [
        "amount_of_data: versions at levels 1 and 2 (2 and 4 columns) name different columns and together "
        "hold 5, which cost level 3 at 10.00 > 3.50"]


def test_audit_skips_column_sets_on_a_refused_table():
    c = aod([1.0, 2.0, 3.0], [1.0, 2.0, 10.0], [2, 4, 5], kept=1, n_columns=5)
    out = market.audit([c, crit("timeliness", [1.0], [-1.0])])
    assert out["problems"] == ["timeliness: negative price at level 1.0"]
    assert out["column_sets"]["ok"] is True
