"""registration.py without a server: every refusal of check_offering / check_criterion and
its SQLSTATE, the boundaries that are still accepted, and the normalised result."""

from __future__ import annotations

import math

import pytest

from nyop_server import registration as r
from nyop_server.errors import NyopError

COLS = {"station": "text", "date": "date", "temp": "double precision", "lu": "timestamp with time zone",
        "note": "text", "d": "date", "ts": "timestamp without time zone", "m": "money"}
KEYABLE = {"station": True, "date": True, "temp": True, "lu": True, "note": False, "d": True, "ts": True,
           "m": "", "dm": "money"}

GOOD = dict(name="weather", columns=COLS, ask_price=1200, reserve_price=None, key_columns=["station", "date"],
            last_updated="lu", volatility_seconds=86400.0, comparison_group=None, utility=None, levels=10,
            keyable=KEYABLE)


def offering(**kw):
    args = dict(GOOD)
    args.update(kw)
    return r.check_offering(**args)


def refused(sqlstate, fn, *a, match=None, **kw) -> NyopError:
    with pytest.raises(NyopError, match=match) as ei:
        fn(*a, **kw)
    assert ei.value.sqlstate == sqlstate, (ei.value.sqlstate, ei.value.message)
    return ei.value


# -- names and prices ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["a", "_x", "A1_b", "x" * 63, "Z" + "9" * 62])
def test_check_name_accepts(name):
    assert r.check_name("offering name", name) == name


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "x" * 64, "é", None, 5, ["a"], "a\n", "a;"])
def test_check_name_refuses(name):
    e = refused("22023", r.check_name, "offering name", name, match="offering name .* is not a valid name")
    assert "letters, digits or underscores" in e.hint


@pytest.mark.parametrize("value, want", [(1, 1.0), (0.01, 0.01), ("2.5", 2.5), (1e300, 1e300)])
def test_check_price_accepts(value, want):
    assert r.check_price("ask_price", value) == want


def test_check_price_refusals():
    refused("22023", r.check_price, "ask_price", None, match="^ask_price must be given$")
    for bad in (0, -1, -0.0, math.nan, math.inf, -math.inf, "nan", "inf"):
        refused("22023", r.check_price, "reserve_price", bad, match="^reserve_price must be a finite number > 0")


# -- check_offering -----------------------------------------------------------------

def test_offering_normalised():
    assert offering() == {"ask_price": 1200.0, "reserve_price": 1200.0, "utility": "sqrt", "levels": 10}
    assert offering(reserve_price=1000, utility="log", levels=1) == {
        "ask_price": 1200.0, "reserve_price": 1000.0, "utility": "log", "levels": 1}
    assert offering(reserve_price=1200, utility="root:3", levels=1000)["utility"] == "root:3"
    assert offering(utility="linear")["utility"] == "root:1"
    assert offering(last_updated=None, volatility_seconds=None)["levels"] == 10
    assert offering(comparison_group="airlines")["ask_price"] == 1200.0
    assert offering(levels="7")["levels"] == 7
    assert offering(key_columns=["d"], last_updated="ts")["levels"] == 10


def test_offering_bad_name_and_prices():
    refused("22023", offering, name="bad name", match="^offering name 'bad name' is not a valid name$")
    refused("22023", offering, ask_price=None, match="ask_price must be given")
    refused("22023", offering, ask_price=0, match="ask_price must be a finite number > 0")
    refused("22023", offering, reserve_price=-5, match="reserve_price must be a finite")
    e = refused("22023", offering, reserve_price=1200.5, match="reserve_price 1200.5 is above ask_price 1200")
    assert "must not exceed the ask" in e.hint


def test_offering_key_refusals():
    refused("22023", offering, key_columns=[], match="key_columns must name at least one column")
    refused("22023", offering, key_columns=None, match="key_columns must name")
    refused("22023", offering, key_columns=["station", "station"], match="key_columns has duplicates: station, station")
    e = refused("42703", offering, key_columns=["nope"], match="key column 'nope' does not exist")
    assert e.hint.startswith("columns: station, date, temp")
    refused("42804", offering, key_columns=["note"], match="key column 'note' has type text, which cannot be compared")
    # a column missing from ``keyable`` is not comparable
    refused("42804", offering, keyable={"station": True}, match="key column 'date' has type date")


def test_offering_unstable_keys_0A000():
    e = refused("0A000", offering, key_columns=["m"], match="key column 'm' has type money, which nyop cannot hash")
    assert "lc_monetary" in e.message and "numeric (ALTER TABLE" in e.message
    assert "a domain over" not in e.message
    assert e.hint.startswith("nyop hashes keys with the type's own hash function")
    cols = dict(COLS, dm="dmoney")
    e = refused("0A000", offering, columns=cols, key_columns=["dm"], match="has type dmoney \\(a domain over money\\)")
    assert "lc_monetary" in e.message


def test_unstable_key_error_texts():
    e = r.unstable_key_error("k", "point")
    assert isinstance(e, NyopError) and e.sqlstate == "0A000"
    assert e.message == (
        "key column 'k' has type point, which nyop cannot hash the same way in every session (it has no immutable "
        "hash function nyop can call and its text form is not known to be independent of session settings), so "
        "masks keyed on it could be re-drawn by changing a setting; key the offering on a column of another type, "
        "e.g. int, bigint, numeric, text, uuid, date or timestamptz")
    assert e.hint == ("nyop hashes keys with the type's own hash function, dates and timestamps as numbers, bytea "
                      "as hex and a few types through their settings-independent text form")
    e = r.unstable_key_error("k", "money", "money", offering="o1")
    assert e.message.startswith("key column 'k' of offering o1 has type money, which")
    assert "(a domain over" not in e.message                # base == type: not a domain
    e = r.unstable_key_error("k", "d", "point")
    assert "has type d (a domain over point)" in e.message
    assert r.UNSTABLE_WHY["money"][1].startswith("numeric")


def test_offering_last_updated_refusals():
    e = refused("22023", offering, volatility_seconds=None, match="last_updated and volatility go together")
    assert "last_updated => 'lastupdated'" in e.hint
    refused("22023", offering, last_updated=None, match="go together")
    e = refused("42703", offering, last_updated="nope", match="last-updated column 'nope' does not exist")
    assert e.hint.startswith("columns: station")
    refused("42804", offering, last_updated="temp",
            match="last-updated column 'temp' has type double precision; it must be a timestamp or date")
    refused("22023", offering, last_updated="date", match="last-updated column 'date' cannot also be a key column")
    for bad in (0, -1, 0.0, math.nan, math.inf):
        refused("22023", offering, volatility_seconds=bad, match="volatility must be a positive interval")
    assert offering(volatility_seconds=1e-6)["levels"] == 10


def test_offering_time_types():
    assert r.TIME_TYPES == {"timestamp with time zone", "timestamp without time zone", "date"}
    for col in ("lu", "ts"):
        offering(last_updated=col)
    offering(key_columns=["station"], last_updated="date")


def test_offering_group_utility_levels():
    refused("22023", offering, comparison_group="bad group", match="^comparison_group 'bad group' is not a valid name$")
    refused("22023", offering, comparison_group="", match="comparison_group")
    refused("22023", offering, utility="cubic", match="utility 'cubic' is not known")
    for bad in (None, 0, -1, 1001):
        refused("22023", offering, levels=bad, match="levels must be between 1 and 1000, got %s" % bad)


# -- check_criterion ----------------------------------------------------------------

CRIT = dict(criterion="completeness", provider_weight=0.5, tiers=None, pricing="score", threshold=None,
            min_level=1, levels=10, has_timeliness=True)


def criterion(**kw):
    args = dict(CRIT)
    args.update(kw)
    return r.check_criterion(**args)


def test_criterion_normalised():
    assert criterion() == {"provider_weight": 0.5, "threshold": 0.0, "min_level": 1}
    assert criterion(provider_weight=0, threshold=0.25, min_level=0, pricing="utility") == {
        "provider_weight": 0.0, "threshold": 0.25, "min_level": 0}
    assert criterion(min_level=10)["min_level"] == 10                  # == levels: allowed
    assert criterion(min_level="3")["min_level"] == 3
    assert criterion(threshold=0.999)["threshold"] == 0.999
    assert criterion(criterion="timeliness")["min_level"] == 1
    assert criterion(criterion="amount_of_data", has_timeliness=False)["min_level"] == 1
    t = criterion(criterion="customer_support", tiers=["e-mail", "phone", "24/7"], min_level=3)
    assert t == {"provider_weight": 0.5, "threshold": 0.0, "min_level": 3}
    assert criterion(criterion="x", tiers=["a"] * 9, min_level=0)["min_level"] == 0
    assert criterion(criterion="docs_2", tiers=["y" * 500])["min_level"] == 1


@pytest.mark.parametrize("name", ["Completeness", "1x", "a-b", "", None, 3, "x" * 64])
def test_criterion_bad_name(name):
    e = refused("22023", criterion, criterion=name, match="criterion .* is not a valid name")
    assert "customer_support" in e.hint


def test_criterion_name_length_boundary():
    assert criterion(criterion="c" * 63, tiers=["a"])["min_level"] == 1


def test_criterion_weight_pricing_threshold_min_level():
    refused("22023", criterion, provider_weight=None, match="provider_weight of 'completeness' must be given")
    for bad in (-0.1, math.nan, math.inf):
        refused("22023", criterion, provider_weight=bad,
                match="provider_weight of 'completeness' must be a finite number >= 0")
    for bad in ("Score", None, "utility ", "price"):
        refused("22023", criterion, pricing=bad, match="pricing of 'completeness' must be 'score' or 'utility'")
    for bad in (-0.01, 1, 1.5, math.nan):
        refused("22023", criterion, threshold=bad, match="threshold of 'completeness' must be in \\[0, 1\\)")
    for bad in (None, -1):
        refused("22023", criterion, min_level=bad, match="min_level of 'completeness' must be >= 0")


def test_criterion_measured_refusals():
    refused("22023", criterion, tiers=["a"], match="'completeness' is measured in the data and takes no tiers")
    refused("22023", criterion, tiers=[], match="takes no tiers")
    refused("22023", criterion, min_level=11, match="min_level 11 of 'completeness' is above the offering's 10 levels")
    e = refused("22023", criterion, criterion="timeliness", has_timeliness=False,
                match="timeliness needs the offering's last_updated column and volatility")
    assert "last_updated =>" in e.hint


def test_criterion_contractual_refusals():
    c = dict(criterion="customer_support")
    e = refused("22023", criterion, tiers=None, match="contractual criterion 'customer_support' needs tiers", **c)
    assert e.hint.startswith("e.g. tiers => ARRAY[")
    refused("22023", criterion, tiers=[], match="needs tiers", **c)
    refused("22023", criterion, tiers=["a"] * 10,
            match="contractual criterion 'customer_support' has 10 tiers; at most 9", **c)
    for bad in ([""], ["  "], ["x" * 501], ["a\x00b"], [3], [None]):
        refused("22023", criterion, tiers=bad,
                match="tier texts of 'customer_support' must be non-empty text of at most 500 characters", **c)
    refused("22023", criterion, tiers=["a", "b"], min_level=3,
            match="min_level 3 of 'customer_support' is above its 2 tiers", **c)


def test_constants():
    assert (r.MAX_TIERS, r.MAX_TIER_TEXT) == (9, 500)


# -- check_unique_key (history needs a key that identifies one row) -------------------

def test_unique_key_accepted():
    r.check_unique_key('public."t"', ["a", "b"], [["a", "b"]], {"a", "b"})
    r.check_unique_key('public."t"', ["a", "b"], [["b"]], {"a", "b"})          # a unique index on part of it
    r.check_unique_key('public."t"', ["a"], [["x", "y"], [], ["a"]], {"a", "x"})


def test_unique_key_refusals_42P10():
    e = refused("42P10", r.check_unique_key, 'public."t"', ["a", "b"], [], {"a", "b"})
    assert e.message == 'key (a, b) of public."t" must identify one row: no unique index or primary key covers it'
    assert e.hint == 'history keeps old versions by key; e.g. ALTER TABLE public."t" ADD PRIMARY KEY (a, b)'
    # an index reaching beyond the key, or an expression index (no columns), does not count
    refused("42P10", r.check_unique_key, "t", ["a"], [["a", "z"], []], {"a"}, match="no unique index")
    e = refused("42P10", r.check_unique_key, "t", ["a", "b", "c"], [["a"]], {"b"})
    assert e.message == "key (a, b, c) of t must identify one row: column(s) a, c may be NULL"
    assert e.hint == ("history keeps old versions by key; e.g. ALTER TABLE t ALTER COLUMN a SET NOT NULL; "
                      "ALTER TABLE t ALTER COLUMN c SET NOT NULL")
    # neither: adding a primary key fixes both
    e = refused("42P10", r.check_unique_key, "t", ["a"], [], set())
    assert e.message.endswith("no unique index or primary key covers it")
    assert e.hint == "history keeps old versions by key; e.g. ALTER TABLE t ADD PRIMARY KEY (a)"
