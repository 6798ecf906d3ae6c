"""The column-set audit without a server (nyop_server.audit.column_sets; issue 14 item 6):
column sets are chosen by buyers, so two versions may together hold more columns than either,
and the audit compares them with the cheapest version holding their union."""

from __future__ import annotations

import itertools
import math

from nyop_server import audit, pricing

OFF = {"name": "A", "reserve_price": 1200.0, "utility": "sqrt", "levels": 10,
       "columns": ["station", "date", "airpressure", "humidity", "temperature", "lastupdated"],
       "key_columns": ["station", "date"]}
FULL = {"timeliness": 1.0, "amount_of_data": 1.0, "completeness": 1.0}


def rows(threshold=0.0, pricing_="score", support=True):
    out = [{"criterion": "timeliness", "provider_weight": 0.5, "pricing": "score", "threshold": 0.0,
            "min_level": 1, "tiers": None},
           {"criterion": "amount_of_data", "provider_weight": 0.3, "pricing": pricing_, "threshold": threshold,
            "min_level": 1, "tiers": None}]
    if support:
        out.append({"criterion": "customer_support", "provider_weight": 0.2, "pricing": "score",
                    "threshold": 0.0, "min_level": 1, "tiers": ["e-mail", "phone", "24/7"]})
    return out


def brute(crits):
    """Every pair of versions with disjoint named columns against the cheapest version holding the union."""
    aod = next(c for c in crits if c.name == "amount_of_data")
    k, total = len(OFF["key_columns"]), len(OFF["columns"])
    held = [max(k, n) for n in aod.columns]
    versions = list(itertools.product(*[range(len(c.levels)) for c in crits]))
    price = {v: sum(c.prices[j] for c, j in zip(crits, v)) for v in versions}
    i = crits.index(aod)
    for a, b in itertools.combinations_with_replacement(versions, 2):
        union = min(total, held[a[i]] + held[b[i]] - k)
        covers = [j for j, n in enumerate(held) if n >= union]
        if not covers:
            return False
        top = tuple(max(x, y) for x, y in zip(a, b))
        top = top[:i] + (max(top[i], covers[0]),) + top[i + 1:]
        if price[a] + price[b] < price[top] - 1e-9:
            return False
    return True


def test_columns_per_level_follow_the_projection():
    crits = pricing.priced_classes(OFF, rows(), FULL, FULL)
    aod = crits[1]
    assert aod.columns == [min(6, math.ceil((j / 10) ** 2 * 6 - 1e-9)) for j in range(1, 11)]
    assert (aod.kept, aod.n_columns) == (2, 6)


def test_paper_table_has_no_column_set_arbitrage():
    crits = pricing.priced_classes(OFF, rows(), FULL, FULL)
    out = audit.audit(crits)
    assert out["ok"] and out["column_sets"] == {"ok": True, "levels": list(range(1, 11)),
                                                "columns": [1, 1, 1, 1, 2, 3, 3, 4, 5, 6]}
    assert audit.column_sets(crits) == [] and brute(crits)


def test_a_threshold_on_amount_of_data_lets_columns_be_split():
    # level 1 sells 4 of 6 columns for 1 % of amount of data's price: two such versions naming
    # different columns hold all six, which only level 9 sells
    crits = pricing.priced_classes(OFF, rows(threshold=0.5), FULL, FULL)
    out = audit.audit(crits)
    assert not out["ok"] and not out["column_sets"]["ok"]
    assert out["problems"] == [audit.column_sets(crits)[0]]
    assert "levels 1 and 1 (4 and 4 columns)" in out["problems"][0] and "together hold 6" in out["problems"][0]
    assert not brute(crits)


def test_the_check_agrees_with_a_brute_force():
    for threshold, p, support in itertools.product([0.0, 0.1, 0.3, 0.5], ["score", "utility"], [True, False]):
        crits = pricing.priced_classes(OFF, rows(threshold, p, support), FULL, FULL)
        assert (audit.column_sets(crits) == []) == brute(crits), (threshold, p, support)


def test_no_amount_of_data_no_column_check():
    crits = pricing.priced_classes(OFF, rows()[:1], FULL, FULL)
    assert "column_sets" not in audit.audit(crits) and audit.column_sets(crits) == []


def test_an_upgrade_floor_keeps_the_levels_that_hold_the_union():
    crits = pricing.priced_classes(OFF, rows(), FULL, FULL, {"amount_of_data": {"level": 1, "columns": 4, "kept": 2}})
    assert crits[1].levels == [8.0, 9.0, 10.0] and crits[1].columns == [4, 5, 6]
    crits = pricing.priced_classes(OFF, rows(), FULL, FULL, {"amount_of_data": {"level": 9, "columns": 4, "kept": 2}})
    assert crits[1].levels == [9.0, 10.0]
    # the kept columns alone: every level delivers them
    crits = pricing.priced_classes(OFF, rows(), FULL, FULL, {"amount_of_data": {"columns": 2, "kept": 2}})
    assert len(crits[1].levels) == 10
