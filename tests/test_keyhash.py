"""Key hashing independent of every session setting (issue 10, item 5).

A cell is kept iff a keyed hash of (offering secret, key, column) is at most the purchase's
threshold (docs/model.md §7). If the key's hash went through a text form that follows a setting
(bytea_output, DateStyle, TimeZone, IntervalStyle, extra_float_digits, lc_monetary,
quote_all_identifiers, …), a buyer could re-draw the mask by changing it; a key type nyop
cannot hash stably is refused at registration.
"""

import psycopg
import pytest

from conftest import one
from nyop_server import delivery, registration
from nyop_server.errors import NyopError

# -- the rule, without a server ------------------------------------------------------------

TEXT = "pg_catalog.hashtextextended({c}::text, {seed})"
DATE = "pg_catalog.hashint4extended({c} - DATE '2000-01-01', {seed})"
EPOCH = "pg_catalog.hashfloat8extended(extract(epoch FROM {c})::float8, {seed})"


def legacy_key_hash_fn(type_name, hash_fn):
    """key_hash_fn before issue 10 (0.2.0): what existing purchases' views were built with."""
    if hash_fn:
        return hash_fn + "({c}, {seed})"
    if type_name == "date":
        return DATE
    if type_name.startswith("timestamp"):
        return EPOCH
    return TEXT


# (type name, legacy fn, base type OID, base typtype, base fn) -> template; as KEY_HASH_FNS_SQL reads them
CHOICES = [
    # the type's own extended hash function: unchanged
    (("integer", "pg_catalog.hashint4extended", 23, "b", "pg_catalog.hashint4extended"),
     "pg_catalog.hashint4extended({c}, {seed})"),
    (("text", "pg_catalog.hashtextextended", 25, "b", "pg_catalog.hashtextextended"),
     "pg_catalog.hashtextextended({c}, {seed})"),
    (("numeric", "pg_catalog.hash_numeric_extended", 1700, "b", "pg_catalog.hash_numeric_extended"),
     "pg_catalog.hash_numeric_extended({c}, {seed})"),
    (("uuid", "pg_catalog.uuid_hash_extended", 2950, "b", "pg_catalog.uuid_hash_extended"),
     "pg_catalog.uuid_hash_extended({c}, {seed})"),
    (("double precision", "pg_catalog.hashfloat8extended", 701, "b", "pg_catalog.hashfloat8extended"),
     "pg_catalog.hashfloat8extended({c}, {seed})"),
    (("interval", "pg_catalog.interval_hash_extended", 1186, "b", "pg_catalog.interval_hash_extended"),
     "pg_catalog.interval_hash_extended({c}, {seed})"),
    (("timestamp without time zone", "pg_catalog.timestamp_hash_extended", 1114, "b",
      "pg_catalog.timestamp_hash_extended"), "pg_catalog.timestamp_hash_extended({c}, {seed})"),
    # dates and timestamptz as numbers: unchanged — also when format_type quotes the name
    (("date", None, 1082, "b", None), DATE),
    (('"date"', None, 1082, "b", None), DATE),
    (("timestamp with time zone", None, 1184, "b", None), EPOCH),
    # a settings-independent text form: unchanged
    (("character varying", None, 1043, "b", None), TEXT),
    (("boolean", None, 16, "b", None), TEXT),
    (("bit varying", None, 1562, "b", None), TEXT),
    (("public.mood", None, 16390, "e", "pg_catalog.hashenumextended"), TEXT),
    (("public.d_int", None, 23, "b", "pg_catalog.hashint4extended"), TEXT),
    (("public.d_text", None, 25, "b", "pg_catalog.hashtextextended"), TEXT),
    (("public.d_mood", None, 16390, "e", "pg_catalog.hashenumextended"), TEXT),
    # were hashed through a text form that follows a setting: now stable
    (("bytea", None, 17, "b", None), delivery.BYTEA_HASH),
    (("public.d_bytea", None, 17, "b", None), delivery.BYTEA_HASH),
    (("public.d_date", None, 1082, "b", None), DATE),
    (("public.d_tstz", None, 1184, "b", None), EPOCH),
    (("public.d_ts", None, 1114, "b", "pg_catalog.timestamp_hash_extended"),
     "pg_catalog.timestamp_hash_extended({c}, {seed})"),
    (("public.d_f8", None, 701, "b", "pg_catalog.hashfloat8extended"),
     "pg_catalog.hashfloat8extended({c}, {seed})"),
    (("public.d_iv", None, 1186, "b", "pg_catalog.interval_hash_extended"),
     "pg_catalog.interval_hash_extended({c}, {seed})"),
    (("regclass", None, 2205, "b", None), "pg_catalog.hashoidextended({c}::pg_catalog.oid, {seed})"),
    (("regrole", None, 4096, "b", None), "pg_catalog.hashoidextended({c}::pg_catalog.oid, {seed})"),
    # polymorphic hash functions (arrays, ranges): the binary values
    (("double precision[]", None, 1022, "b", "pg_catalog.hash_array_extended"),
     "pg_catalog.hash_array_extended({c}, {seed})"),
    (("int4range", None, 3904, "r", "pg_catalog.hash_range_extended"),
     "pg_catalog.hash_range_extended({c}, {seed})"),
    # no settings-independent hash: refused
    (("money", None, 790, "b", None), None),
    (("public.d_money", None, 790, "b", None), None),
    (("public.cube", None, 16500, "b", None), None),
    (("json", None, 114, "b", None), None),
]


@pytest.mark.parametrize("args, want", CHOICES, ids=[a[0] for a, _ in CHOICES])
def test_key_hash_fn_choices(args, want):
    assert delivery.key_hash_fn(*args) == want


# types whose hash already read no setting (before issue 10), by how format_type names them
WAS_STABLE = {"integer", "text", "numeric", "uuid", "double precision", "interval", "timestamp without time zone",
              "date", "timestamp with time zone", "character varying", "boolean", "bit varying", "public.mood",
              "public.d_int", "public.d_text", "public.d_mood"}


@pytest.mark.parametrize("args", [a for a, _ in CHOICES if a[0] in WAS_STABLE],
                         ids=[a[0] for a, _ in CHOICES if a[0] in WAS_STABLE])
def test_stable_types_keep_their_expression(args):
    """Types whose hash was already settings-independent keep exactly the same SQL expression,
    so masks of existing purchases do not change."""
    assert delivery.key_hash_fn(*args) == legacy_key_hash_fn(args[0], args[1])


def test_bytea_hash_reads_no_setting():
    t = delivery.BYTEA_HASH
    assert "::text" not in t and "pg_catalog.encode({c}, 'hex')" in t and "E'\\\\x'" in t


def test_unstable_key_refused_by_check_offering():
    args = dict(name="m", columns={"k": "money", "v": "integer"}, ask_price=100, reserve_price=None,
                key_columns=["k"], last_updated=None, volatility_seconds=None, comparison_group=None,
                utility="sqrt", levels=10)
    with pytest.raises(NyopError) as e:
        registration.check_offering(keyable={"k": "", "v": True}, **args)
    assert e.value.sqlstate == "0A000"
    assert "'k'" in e.value.message and "money" in e.value.message and "numeric" in e.value.message
    with pytest.raises(NyopError) as e:
        registration.check_offering(keyable={"k": "money", "v": True}, **dict(args, columns={"k": "public.dm"}))
    assert "public.dm (a domain over money)" in e.value.message
    assert registration.check_offering(keyable={"k": "", "v": True}, **dict(args, key_columns=["v"]))


# -- with a server -------------------------------------------------------------------------

SETTINGS = [
    "bytea_output = 'escape'", "bytea_output = 'hex'", "DateStyle = 'SQL, DMY'", "DateStyle = 'German'",
    "DateStyle = 'Postgres, YMD'", "TimeZone = 'Pacific/Kiritimati'", "TimeZone = 'America/St_Johns'",
    "IntervalStyle = 'iso_8601'", "IntervalStyle = 'sql_standard'", "IntervalStyle = 'postgres_verbose'",
    "extra_float_digits = -15", "extra_float_digits = 3", "quote_all_identifiers = on", "lc_monetary = 'C'",
    "search_path = pg_temp",
]
# every one of them at once, for the session that bids
ODD = ["bytea_output = 'escape'", "DateStyle = 'German'", "TimeZone = 'Pacific/Kiritimati'",
       "IntervalStyle = 'sql_standard'", "extra_float_digits = -15", "quote_all_identifiers = on"]

# key type -> its values for i = 1..n (expressions in i)
KEYS = {
    "bytea": "pg_catalog.int4send(i * 7919)",
    "timestamptz": "TIMESTAMPTZ '2017-05-07 12:00+00' + i * INTERVAL '1 hour 1 minute 1.5 seconds'",
    "timestamp": "TIMESTAMP '2017-05-07 12:00' + i * INTERVAL '1 hour 1 minute 1.5 seconds'",
    "date": "DATE '2017-01-01' + i",
    "interval": "i * INTERVAL '1 day 1 hour 1.25 seconds'",
    "float8": "i / 3.0::float8",
    "numeric": "i / 7.0::numeric",
    "uuid": "md5(i::text)::uuid",
    "integer": "i * 3",
    "text": "'k' || i",
}
N = 120
BID = 500


def offering(db, name, keys: dict, n=N):
    """A table keyed on ``keys`` ({column: type}), values per i as in KEYS, three value columns;
    registered with completeness as its only criterion."""
    for col, typ in keys.items():
        if typ.startswith("d_"):
            db.execute(f"CREATE DOMAIN {typ} AS {typ[2:]}")
    decl = ", ".join(f"{c} {t}" for c, t in keys.items())
    db.execute(f"CREATE TABLE {name} ({decl}, a int, b text, c float8, PRIMARY KEY ({', '.join(keys)}))")
    vals = ", ".join(f"({KEYS[t[2:] if t.startswith('d_') else t]})::{t}" for t in keys.values())
    db.execute(f"INSERT INTO {name} SELECT {vals}, i %% 11, 'v' || i, i / 9.0 FROM generate_series(1, %s) i",
               (n,))
    db.execute(f"SELECT nyop_register_offering('{name}', '{name}', 1000, ARRAY{list(keys)!r})")
    db.execute(f"SELECT nyop_set_criterion('{name}', 'completeness', 1)")


def bid(conn, name, settings=(), price=BID):
    conn.execute("RESET ALL")
    for s in settings:
        conn.execute(f"SET {s}")
    status, quote, view = conn.execute(
        "INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s, %s, '{\"completeness\": 1}') "
        "RETURNING status, quote, view::text", (name, price)).fetchone()
    conn.execute("RESET ALL")
    assert status == "accepted"
    assert 0.3 < quote["completeness_target"] < 0.8
    return view


def kept(conn, view, nkeys, setting=None):
    """The non-null cells of the view's value columns, by key — read in binary, so that the
    values compare whatever the text settings."""
    conn.execute("RESET ALL")
    if setting:
        conn.execute(f"SET {setting}")
    cur = conn.execute(f"SELECT * FROM {view}", binary=True)
    rows = cur.fetchall()
    conn.execute("RESET ALL")
    assert len(rows) == N
    return {(r[:nkeys], i) for r in rows for i in range(nkeys, len(r)) if r[i] is not None}


def assert_stable(conn, view, nkeys):
    base = kept(conn, view, nkeys)
    assert 0 < len(base) < 3 * N                    # masked, not empty
    for s in SETTINGS:
        assert kept(conn, view, nkeys, s) == base, s
    return base


@pytest.mark.parametrize("keys", [{"k": "bytea"}, {"k": "bytea", "t": "text"}, {"t": "text", "k": "d_bytea"}],
                         ids=["bytea", "bytea+text", "text+domain-over-bytea"])
def test_bytea_key_mask_ignores_bytea_output(db, buyer, keys):
    offering(db, "kb", keys)
    _, conn = buyer()
    view = bid(conn, "kb")
    base = assert_stable(conn, view, len(keys))
    # bought under the other bytea_output, the same cells
    _, other = buyer("other")
    assert kept(other, bid(other, "kb", ["bytea_output = 'escape'"]), len(keys)) == base


TYPED = ["timestamptz", "timestamp", "date", "interval", "float8", "numeric", "uuid",
         "d_timestamptz", "d_timestamp", "d_date", "d_interval", "d_float8", "d_numeric", "d_uuid"]


@pytest.mark.parametrize("typ", TYPED)
def test_typed_key_mask_ignores_session_settings(db, buyer, typ):
    """Read under any DateStyle, TimeZone, IntervalStyle, extra_float_digits, … — and bought under
    all of them at once — a view delivers the same cells. (The domains were hashed through their
    text form before; the plain types keep their expression and guard against regressions.)"""
    offering(db, "kt", {"k": typ})
    _, conn = buyer()
    base = assert_stable(conn, bid(conn, "kt"), 1)
    _, odd = buyer("odd")
    assert kept(odd, bid(odd, "kt", ODD), 1) == base


def test_date_key_hash_ignores_quote_all_identifiers(db, buyer):
    """format_type quotes "date" under quote_all_identifiers: the rule must not go by the name."""
    offering(db, "kd", {"k": "date", "t": "text"})
    _, conn = buyer()
    base = assert_stable(conn, bid(conn, "kd"), 2)
    _, quoting = buyer("quoting")
    view = bid(quoting, "kd", ["quote_all_identifiers = on", "DateStyle = 'German'"])
    assert kept(quoting, view, 2) == base
    assert kept(quoting, view, 2, "DateStyle = 'SQL, DMY'") == base


def legacy_kept(db, name, view, keys: dict, hash_sql: str, setting=None):
    """The cells a view must deliver if its key hash is ``hash_sql`` ({seed} the column's seed),
    computed here from the purchase's threshold and the seeds."""
    db.execute("RESET ALL")
    if setting:
        db.execute(f"SET {setting}")
    threshold = one(db, "SELECT threshold FROM nyop.purchases WHERE view = %s::regclass", (view,))
    out = set()
    for i, col in enumerate(["a", "b", "c"]):
        rows = db.execute(
            f"SELECT {', '.join(keys)} FROM {name} t, nyop.mask_seeds s WHERE s.offering = %s "
            f"AND s.column_name = %s AND t.{col} IS NOT NULL AND {hash_sql.format(seed='s.seed')} <= %s",
            (name, col, threshold), binary=True).fetchall()
        out |= {(tuple(r), len(keys) + i) for r in rows}
    db.execute("RESET ALL")
    return out


@pytest.mark.parametrize("keys, hash_sql", [
    ({"k": "integer"}, "hashint4extended(k, {seed})"),
    ({"k": "text"}, "hashtextextended(k, {seed})"),
    ({"k": "integer", "t": "text"}, "hashtextextended(t, hashint4extended(k, {seed}))"),
    ({"k": "d_integer"}, "hashtextextended(k::text, {seed})"),
    ({"k": "date"}, "hashint4extended(k - DATE '2000-01-01', {seed})"),
    ({"k": "timestamptz"}, "hashfloat8extended(extract(epoch FROM k)::float8, {seed})"),
], ids=["int", "text", "int+text", "domain-over-int", "date", "timestamptz"])
def test_stable_key_hashes_unchanged(db, buyer, keys, hash_sql):
    """Keys whose hash was already settings-independent hash exactly as before (0.2.0):
    the view keeps the cells the old expression, computed here literally, keeps."""
    offering(db, "ks", keys)
    _, conn = buyer()
    view = bid(conn, "ks")
    assert kept(conn, view, len(keys)) == legacy_kept(db, "ks", view, keys, hash_sql)


def test_bytea_hash_unchanged_for_purchases_under_hex(db, buyer):
    """bytea keys hash as their text form did under bytea_output = 'hex' (the default), so
    masks bought under the default do not change."""
    offering(db, "kx", {"k": "bytea"})
    _, conn = buyer()
    view = bid(conn, "kx")
    want = legacy_kept(db, "kx", view, {"k": "bytea"}, "hashtextextended(k::text, {seed})", "bytea_output = 'hex'")
    assert kept(conn, view, 1, "bytea_output = 'escape'") == want
    assert legacy_kept(db, "kx", view, {"k": "bytea"}, "hashtextextended(k::text, {seed})",
                       "bytea_output = 'escape'") != want       # what the old expression did


@pytest.mark.parametrize("decl, typ", [("k money", "money"), ("k dm", "dm")])
def test_money_key_refused_at_registration(db, decl, typ):
    db.execute("CREATE DOMAIN dm AS money")
    db.execute(f"CREATE TABLE km ({decl} PRIMARY KEY, v int)")
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT nyop_register_offering('km', 'km', 100, ARRAY['k'])")
    assert e.value.sqlstate == "0A000", str(e.value)
    msg = e.value.diag.message_primary
    assert "'k'" in msg and typ in msg and "money" in msg and "lc_monetary" in msg and "numeric" in msg, msg
    assert "Traceback" not in str(e.value)
    assert one(db, "SELECT count(*) FROM nyop.offerings WHERE name = 'km'") == 0
    # a money column is fine when it is not a key
    db.execute("ALTER TABLE km ADD COLUMN id int")
    db.execute("SELECT nyop_register_offering('km', 'km', 100, ARRAY['id'])")


def test_type_without_hash_refused_and_extension_hash_accepted(db):
    """cube (contrib) is comparable but has no hash function: refused. citext has its own."""
    have = {r[0] for r in db.execute("SELECT name FROM pg_available_extensions WHERE name IN ('cube', 'citext')")}
    if have != {"cube", "citext"}:
        pytest.skip("contrib extensions cube and citext are not installed")
    db.execute("CREATE EXTENSION cube")
    db.execute("CREATE EXTENSION citext")
    db.execute("CREATE TABLE kc (k cube PRIMARY KEY, c citext UNIQUE, v int)")
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT nyop_register_offering('kc', 'kc', 100, ARRAY['k'])")
    assert e.value.sqlstate == "0A000" and "cube" in e.value.diag.message_primary
    db.execute("SELECT nyop_register_offering('kc', 'kc', 100, ARRAY['c'])")


def test_existing_offering_with_unstable_key_refuses_masked_bids(db, buyer):
    """An offering whose key became unstable after registration (registered before nyop refused
    such keys, or retyped since) is refused at bid time rather than masked per session."""
    offering(db, "kr", {"k": "integer"})
    db.execute("ALTER TABLE kr ALTER COLUMN k TYPE money USING k::money")
    _, conn = buyer()
    with pytest.raises(psycopg.Error) as e:
        conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('kr', %s, "
                     "'{\"completeness\": 1}')", (BID,))
    assert e.value.sqlstate == "0A000" and "money" in e.value.diag.message_primary
    assert "kr" in e.value.diag.message_primary
