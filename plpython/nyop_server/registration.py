"""Registering offerings and their criteria: validation of everything a provider
gives us, against facts read from the catalog (columns, types, privileges).

The checks live here as plain functions over those facts, so each refusal —
and its SQLSTATE — is unit-testable without a server.
"""

from __future__ import annotations

import math
import re

from .errors import InvalidParameter, UndefinedColumn, DatatypeMismatch, NyopError
from .model import MEASURED, parse_utility

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
CRITERION_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
TIME_TYPES = {"timestamp with time zone", "timestamp without time zone", "date"}
MAX_TIERS = 9
MAX_TIER_TEXT = 500


def check_name(what: str, value) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise InvalidParameter("%s %r is not a valid name" % (what, value),
                               hint="use 1-63 letters, digits or underscores, not starting with a digit")
    return value


def check_price(what: str, value) -> float:
    if value is None:
        raise InvalidParameter("%s must be given" % what)
    v = float(value)
    if math.isnan(v) or math.isinf(v) or v <= 0:
        raise InvalidParameter("%s must be a finite number > 0, got %s" % (what, value))
    return v


# Why a comparable type still cannot key an offering: its masks would follow session settings.
UNSTABLE_WHY = {
    "money": ("its text form follows the session's lc_monetary and it has no hash function",
              "numeric (ALTER TABLE … ALTER COLUMN … TYPE numeric)"),
}


def unstable_key_error(column: str, type_name: str, base_type: str | None = None,
                       offering: str | None = None) -> NyopError:
    """The refusal of a key column whose type nyop cannot hash the same way in every session
    (SQLSTATE 0A000): masks keyed on it would change with the reader's settings."""
    base = base_type if base_type and base_type != type_name else None     # a domain's base type
    why, fix = UNSTABLE_WHY.get(base or type_name, (
        "it has no immutable hash function nyop can call and its text form is not known to be "
        "independent of session settings", "int, bigint, numeric, text, uuid, date or timestamptz"))
    return NyopError(
        "key column %r%s has type %s%s, which nyop cannot hash the same way in every session (%s), so masks "
        "keyed on it could be re-drawn by changing a setting; key the offering on a column of another type, "
        "e.g. %s" % (column, " of offering %s" % offering if offering else "", type_name,
                     " (a domain over %s)" % base if base else "", why, fix),
        sqlstate="0A000",
        hint="nyop hashes keys with the type's own hash function, dates and timestamps as numbers, bytea "
             "as hex and a few types through their settings-independent text form")


def check_offering(name, columns: dict, ask_price, reserve_price, key_columns, last_updated,
                   volatility_seconds, comparison_group, utility, levels, keyable: dict) -> dict:
    """Validate an offering against its relation's ``columns`` ({name: type}).

    ``keyable`` says, per column, whether its type has a default btree opclass
    (a key must be comparable): True, False, or — when it is comparable but has no
    settings-independent hash (a key must hash the same way in every session: masks must not
    follow a reader's settings) — a string: the base type's name if the column's type is a
    domain, else "". Returns the normalised registration.
    """
    check_name("offering name", name)
    ask = check_price("ask_price", ask_price)
    reserve = ask if reserve_price is None else check_price("reserve_price", reserve_price)
    if reserve > ask:
        raise InvalidParameter("reserve_price %s is above ask_price %s" % (reserve_price, ask_price),
                               hint="the reserve is the hidden lowest price; it must not exceed the ask")
    if not key_columns:
        raise InvalidParameter("key_columns must name at least one column")
    if len(set(key_columns)) != len(key_columns):
        raise InvalidParameter("key_columns has duplicates: %s" % ", ".join(key_columns))
    for k in key_columns:
        if k not in columns:
            raise UndefinedColumn("key column %r does not exist in the offering's relation" % (k,),
                                  hint="columns: %s" % ", ".join(columns))
        ok = keyable.get(k, False)
        if isinstance(ok, str):     # comparable, but without a settings-independent hash
            raise unstable_key_error(k, columns[k], ok or None)
        if not ok:
            raise DatatypeMismatch("key column %r has type %s, which cannot be compared" % (k, columns[k]))
    if (last_updated is None) != (volatility_seconds is None):
        raise InvalidParameter("last_updated and volatility go together: give both or neither",
                               hint="e.g. last_updated => 'lastupdated', volatility => '24 hours'")
    if last_updated is not None:
        if last_updated not in columns:
            raise UndefinedColumn("last-updated column %r does not exist in the offering's relation"
                                  % (last_updated,), hint="columns: %s" % ", ".join(columns))
        if columns[last_updated] not in TIME_TYPES:
            raise DatatypeMismatch("last-updated column %r has type %s; it must be a timestamp or date"
                                   % (last_updated, columns[last_updated]))
        if last_updated in key_columns:
            raise InvalidParameter("last-updated column %r cannot also be a key column" % (last_updated,))
        if not (volatility_seconds > 0) or math.isinf(volatility_seconds):
            raise InvalidParameter("volatility must be a positive interval, got %s seconds" % volatility_seconds)
    if comparison_group is not None:
        check_name("comparison_group", comparison_group)
    u = parse_utility(utility)
    if levels is None or not (1 <= int(levels) <= 1000):
        raise InvalidParameter("levels must be between 1 and 1000, got %s" % (levels,))
    return {"ask_price": ask, "reserve_price": reserve, "utility": u.name, "levels": int(levels)}


def check_criterion(criterion, provider_weight, tiers, pricing, threshold, min_level,
                    levels: int, has_timeliness: bool) -> dict:
    """Validate one criterion of an offering with ``levels`` data levels."""
    if not isinstance(criterion, str) or not CRITERION_RE.fullmatch(criterion):
        raise InvalidParameter("criterion %r is not a valid name" % (criterion,),
                               hint="use lower-case letters, digits and underscores, e.g. customer_support")
    if provider_weight is None:
        raise InvalidParameter("provider_weight of %r must be given" % criterion)
    w = float(provider_weight)
    if math.isnan(w) or math.isinf(w) or w < 0:
        raise InvalidParameter("provider_weight of %r must be a finite number >= 0, got %s"
                               % (criterion, provider_weight))
    if pricing not in ("score", "utility"):
        raise InvalidParameter("pricing of %r must be 'score' or 'utility', got %r" % (criterion, pricing))
    t = 0.0 if threshold is None else float(threshold)
    if math.isnan(t) or not (0 <= t < 1):
        raise InvalidParameter("threshold of %r must be in [0, 1), got %s" % (criterion, threshold))
    if min_level is None or int(min_level) < 0:
        raise InvalidParameter("min_level of %r must be >= 0, got %s" % (criterion, min_level))
    min_level = int(min_level)
    if criterion in MEASURED:
        if tiers is not None:
            raise InvalidParameter("%r is measured in the data and takes no tiers" % criterion)
        if min_level > levels:
            raise InvalidParameter("min_level %d of %r is above the offering's %d levels"
                                   % (min_level, criterion, levels))
        if criterion == "timeliness" and not has_timeliness:
            raise InvalidParameter("timeliness needs the offering's last_updated column and volatility",
                                   hint="register the offering with last_updated => … and volatility => …")
    else:
        if tiers is None or len(tiers) == 0:
            raise InvalidParameter("contractual criterion %r needs tiers (its terms per level, lowest first)"
                                   % criterion,
                                   hint="e.g. tiers => ARRAY['E-mail, 48 h', 'Phone 9-5', 'Phone and e-mail 24/7']")
        if len(tiers) > MAX_TIERS:
            raise InvalidParameter("contractual criterion %r has %d tiers; at most %d"
                                   % (criterion, len(tiers), MAX_TIERS))
        for x in tiers:
            if not isinstance(x, str) or not x.strip() or len(x) > MAX_TIER_TEXT or "\x00" in x:
                raise InvalidParameter("tier texts of %r must be non-empty text of at most %d characters"
                                       % (criterion, MAX_TIER_TEXT))
        if min_level > len(tiers):
            raise InvalidParameter("min_level %d of %r is above its %d tiers" % (min_level, criterion, len(tiers)))
    return {"provider_weight": w, "threshold": t, "min_level": min_level}


def check_unique_key(relation_sql: str, key_columns: list, unique_indexes: list, not_null: set) -> None:
    """A table sold with history must have a key that identifies one row: NOT NULL key columns
    and a unique index (a primary key, or a plain unique index) on some of them. Capture pairs
    each old row with its new version by the key; duplicates would multiply history."""
    keys = set(key_columns)
    nullable = [k for k in key_columns if k not in not_null]
    unique = any(cols and set(cols) <= keys for cols in unique_indexes)
    if unique and not nullable:
        return
    cols = ", ".join(key_columns)
    fix = []
    if not unique:
        fix.append("ALTER TABLE %s ADD PRIMARY KEY (%s)" % (relation_sql, cols))
    elif nullable:
        fix += ["ALTER TABLE %s ALTER COLUMN %s SET NOT NULL" % (relation_sql, k) for k in nullable]
    raise InvalidParameter(
        "key (%s) of %s must identify one row: %s" % (
            cols, relation_sql, "no unique index or primary key covers it" if not unique
            else "column(s) %s may be NULL" % ", ".join(nullable)),
        sqlstate="42P10",
        hint="history keeps old versions by key; e.g. " + "; ".join(fix))

