"""Hostile input and hostile roles (SECURITY.md).

Attack strings, per validator. A table of attack strings (quotes, comments, semicolons,
dollar quoting, unicode and escape strings, subqueries, calls of pg_read_file / lo_import /
set_config / pg_sleep / dblink, system columns, 100 000 characters, …) goes through nyop's text
parameters, organised by the code that judges them:

* VALIDATORS: one entry per validator — the server-side code path that judges one kind of
  text (an offering name, a column of the relation, a utility spec, the scope predicate
  parser, the wanted columns, a solver name, preference keys, the definer door's handler
  name, a role or relation cast, a setting, …) with its representative entry point, the
  shape of its refusals' messages and the sample attacks that identify it.
  test_validator_battery runs every attack string once per validator, through its
  representative.
* ENTRY_POINTS: one entry per entry point — an SQL function (or table, or setting) and one
  of its text parameters — naming its validator, who calls it (operator, buyer, provider),
  a valid value, and what an attack string accepted as valid input must look like.
  test_entry_point_reaches_its_validator checks, once per entry point, that the valid value
  is accepted and that the validator's sample attacks get the same answer as through the
  representative (the same SQLSTATE, a message of the validator's shape): the parameter
  reaches that validator, so the battery run through the representative covers it.

A new entry point is one entry in ENTRY_POINTS; a new kind of text is one entry in
VALIDATORS as well (and gets the whole battery). Every attempt must be refused with a clear message
and a proper SQLSTATE (never XX000/38000, never a Python traceback) or be harmless — and
afterwards nothing may have changed: a snapshot of nyop's catalog, the bids, the paper's
tables, the relations, functions, roles and privileges, and a canary table are compared
after each attempt with the one before.

The other tests: hostile numbers (bids, preferences, provider parameters, the bare solver),
column lists, the definer door with forged payloads, and a registered buyer (or provider)
that tries to forge bids, call internals, change roles, read what is not its own, leak
through functions and catalogs or change settings; all checked by the same snapshot.

Most attacks share one database (module scope) so that a thousand of them run in seconds;
attacks that must change something to be tested use the per-test fixtures of conftest.py.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import conninfo

from conftest import one
from nyop_pg import paper

PREFS = json.dumps(paper.PAPER_BID["preferences"])
GROUP_PREFS = json.dumps({"completeness": 0.4, "amount_of_data": 0.4, "customer_support": 0.2})
BOB_PREFS = json.dumps({"timeliness": 0.3512, "amount_of_data": 0.4988, "customer_support": 0.15})
BOB_MARKER = "0.3512"            # bob's preference weight: must never reach alice
BOB_QUERY_MARKER = "bob-private-query-7f3a"

# --------------------------------------------------------------------------------------
# the attack strings
# --------------------------------------------------------------------------------------

ATTACKS = [
    ("quote", "'"),
    ("two-quotes", "''"),
    ("double-quote", '"'),
    ("break-out-drop", "x'; DROP TABLE canary; --"),
    ("doubled-quote-drop", "x''; DROP TABLE canary; --"),
    ("paren-break-out", "x'); DROP TABLE canary; --"),
    ("ident-break-out", 'x"; DROP TABLE canary; --'),
    ("ident-paren-break-out", 'x"")); DROP TABLE canary; --'),
    ("or-true", "x' OR '1'='1"),
    ("ident-or-true", '" OR 1=1 --'),
    ("line-comment", "-- comment"),
    ("trailing-comment", "station -- "),
    ("block-comment", "/* comment */ station"),
    ("open-block-comment", "station /*"),
    ("close-block-comment", "*/ DROP TABLE canary; /*"),
    ("semicolon", ";"),
    ("stacked-drop", "station; DROP TABLE canary"),
    ("stacked-sleep", "1; SELECT pg_sleep(5)"),
    ("dollar-quote", "$$; DROP TABLE canary; $$"),
    ("dollar-tag", "$tag$ DROP TABLE canary $tag$"),
    ("dollar-open", "x$$"),
    ("dollar-param", "$1"),
    ("unicode-string", "U&'\\0041'"),
    ("unicode-ident", 'U&"\\0041"'),
    ("unicode-uescape", "U&'d\\0061t\\+000061' UESCAPE '!'"),
    ("escape-string", "E'\\x27; DROP TABLE canary; --'"),
    ("escape-backslash", "E'\\\\'"),
    ("backslash-quote", "\\'; DROP TABLE canary; --"),
    ("backslash-x27", "\\x27"),
    ("subquery-secret", "(SELECT secret FROM nyop.offering_secrets LIMIT 1)"),
    ("subquery-authid", "1 = (SELECT count(*) FROM pg_authid)"),
    ("union-secret", "x' UNION SELECT secret FROM nyop.offering_secrets --"),
    ("exists-seeds", "EXISTS (SELECT 1 FROM nyop.mask_seeds)"),
    ("pg-read-file", "pg_read_file('/etc/passwd')"),
    ("pg-read-binary-file", "pg_read_binary_file('/etc/passwd') IS NOT NULL"),
    ("lo-import", "lo_import('/etc/passwd') > 0"),
    ("set-config-role", "set_config('role', 'postgres', false)"),
    ("set-config-path", "set_config('search_path', 'public', false) IS NOT NULL"),
    ("pg-sleep", "pg_sleep(10) IS NULL"),
    ("dblink", "dblink('dbname=postgres', 'DROP TABLE canary')"),
    ("dblink-exec", "dblink_exec('dbname=postgres', 'DROP TABLE canary') = 'OK'"),
    ("copy-program", "COPY canary TO PROGRAM 'id'"),
    ("do-block", "DO $$BEGIN DROP TABLE canary; END$$"),
    ("current-user", "current_user"),
    ("current-setting", "current_setting('is_superuser') = 'on'"),
    ("qualified-call", "nyop.clock()"),
    ("qualified-table", "public.canary"),
    ("qualified-column", "canary.id"),
    ("system-ctid", "ctid"),
    ("system-xmin", "xmin"),
    ("system-tableoid", "tableoid"),
    ("star", "*"),
    ("column-list", "station, secret"),
    ("newline-statement", "station\n; DROP TABLE canary"),
    ("tab-cr", "station\t\r"),
    ("zero-width-space", "station\u200b"),
    ("rtl-override", "\u202enoitats"),
    ("fullwidth", "\uff53\uff54\uff41\uff54\uff49\uff4f\uff4e"),
    ("emoji", "\U0001F642'; --"),
    ("long-1000", "a" * 1000),
    ("long-100k", "x'" * 50000),
    ("empty", ""),
    ("blank", "   "),
    ("null-word", "NULL"),
    ("tautology", "1=1"),
    ("format-specifiers", "%s %I %L %1$s"),
    ("python-format", "{0.__class__} %(x)s"),
    ("json-breaking", '"}, "buyer": "postgres", "x": {"'),
    ("jsonpath", "$.secret"),
    ("regclass-cast", "'nyop.offering_secrets'::regclass"),
    ("regproc-cast", "CAST('pg_sleep' AS regproc)"),
]
ATTACK_PARAMS = [pytest.param(text, id=name) for name, text in ATTACKS]
assert len(ATTACKS) >= 50 and len({n for n, _ in ATTACKS}) == len(ATTACKS)

# --------------------------------------------------------------------------------------
# what a refusal must look like
# --------------------------------------------------------------------------------------

ALLOWED_SQLSTATE = re.compile(r"^(22[0-9A-Z]{3}|42[0-9A-Z]{3}|28[0-9A-Z]{3}|P0001)$")


def error_text(e: psycopg.Error) -> str:
    d = e.diag
    return "\n".join(x for x in (str(e), d.message_primary, d.message_detail, d.message_hint, d.context,
                                 d.internal_query) if x)


def assert_clean_refusal(e: psycopg.Error, also=()):
    """A proper PostgreSQL error: allowed SQLSTATE, a message, no Python traceback."""
    text = error_text(e)
    assert e.sqlstate not in ("XX000", "38000"), f"{e.sqlstate}: {text}"
    assert "Traceback" not in text, text
    assert e.sqlstate and (ALLOWED_SQLSTATE.match(e.sqlstate) or e.sqlstate in also), f"{e.sqlstate}: {text}"
    assert e.diag.message_primary


def assert_envelope_refused(value, sqlstates=None):
    """nyop._call_definer answers with an error envelope instead of raising."""
    assert isinstance(value, dict) and "ok" not in value and "error" in value, value
    err = value["error"]
    assert err["message"] and "Traceback" not in json.dumps(err)
    assert ALLOWED_SQLSTATE.match(err["sqlstate"]), err
    if sqlstates:
        assert err["sqlstate"] in sqlstates, err


# --------------------------------------------------------------------------------------
# the shared database: paper offerings, a masked offering, two buyers, a provider
# --------------------------------------------------------------------------------------

SNAPSHOT_SQL = r"""
WITH rel AS (
    SELECT c.oid, c.relname, c.relkind, c.relacl, c.relrowsecurity, c.relforcerowsecurity, n.nspname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema')
SELECT jsonb_build_object(
  'offerings',  (SELECT coalesce(jsonb_agg(to_jsonb(o) ORDER BY o.name), '[]') FROM nyop.offerings o),
  'criteria',   (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.offering, c.criterion), '[]') FROM nyop.criteria c),
  'bids',       (SELECT coalesce(jsonb_agg(to_jsonb(b) ORDER BY b.bid_id), '[]') FROM nyop.bids b),
  'purchases',  (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.bid_id), '[]') FROM nyop.purchases p),
  'secrets',    (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.offering), '[]') FROM nyop.offering_secrets s),
  'mask_seeds', (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.offering, s.column_name), '[]') FROM nyop.mask_seeds s),
  'buyers',     (SELECT coalesce(jsonb_agg(b.buyer::text ORDER BY b.buyer::text), '[]') FROM nyop.buyers b),
  'histories',  (SELECT coalesce(jsonb_agg(to_jsonb(h) ORDER BY h.relation::text), '[]') FROM nyop.histories h),
  'rows',       jsonb_build_object('weather_a', (SELECT count(*) FROM public.weather_a),
                                   'weather_b', (SELECT count(*) FROM public.weather_b),
                                   'big', (SELECT count(*) FROM public.big)),
  'data',       jsonb_build_object(
                  'weather_a', (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM public.weather_a t),
                  'weather_b', (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM public.weather_b t),
                  'big', (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM public.big t)),
  'views',      (SELECT coalesce(jsonb_agg(relname::text ORDER BY relname), '[]') FROM rel WHERE nspname = 'nyop_views'),
  'relations',  (SELECT jsonb_agg(format('%s.%s:%s:%s', nspname, relname, relkind, relacl) ORDER BY nspname, relname) FROM rel),
  'functions',  (SELECT jsonb_agg(format('%s:%s:%s', p.oid::regprocedure, p.prosecdef, p.proacl) ORDER BY p.oid::regprocedure::text)
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'),
  'schemas',    (SELECT jsonb_agg(format('%s:%s:%s', nspname, nspowner::regrole, nspacl) ORDER BY nspname) FROM pg_namespace
                 WHERE nspname NOT LIKE 'pg\_%'),
  'roles',      (SELECT jsonb_agg(format('%s:%s:%s:%s:%s', rolname, rolsuper, rolcreaterole, rolbypassrls, rolinherit)
                                  ORDER BY rolname) FROM pg_roles WHERE rolname = ANY(%(roles)s)),
  'members',    (SELECT coalesce(jsonb_agg(format('%s>%s', roleid::regrole, member::regrole)
                                    ORDER BY roleid::regrole::text, member::regrole::text), '[]')
                 FROM pg_auth_members WHERE member::regrole::text = ANY(%(roles)s) OR roleid::regrole::text = ANY(%(roles)s)),
  'role_settings', (SELECT coalesce(jsonb_agg(format('%s:%s:%s', setdatabase, setrole, setconfig)
                                       ORDER BY setdatabase, setrole), '[]')
                    FROM pg_db_role_setting),
  'policies',   (SELECT jsonb_agg(format('%s:%s:%s:%s', polrelid::regclass, polname, polcmd,
                                         pg_get_expr(polqual, polrelid)) ORDER BY polname) FROM pg_policy),
  'triggers',   (SELECT jsonb_agg(format('%s:%s:%s', tgrelid::regclass, tgname, tgenabled)
                                 ORDER BY tgrelid::regclass::text, tgname)
                 FROM pg_trigger WHERE NOT tgisinternal),
  'rls',        (SELECT jsonb_agg(format('%s:%s:%s', oid::regclass, relrowsecurity, relforcerowsecurity)
                                 ORDER BY oid::regclass::text)
                 FROM rel WHERE relkind = 'r'),
  'event_triggers', (SELECT coalesce(jsonb_agg(format('%s:%s:%s', evtname, evtevent, evtenabled) ORDER BY evtname), '[]')
                     FROM pg_event_trigger),
  'largeobjects', (SELECT count(*) FROM pg_largeobject_metadata),
  'extension',  (SELECT extversion FROM pg_extension WHERE extname = 'nyop'),
  'canary',     to_regclass('public.canary') IS NOT NULL)
"""


def login_dsn(server, dbname, role):
    """Connect as a LOGIN role made with PASSWORD 'nyop-test' (as conftest's make_role does)."""
    params = conninfo.conninfo_to_dict(server.dsn_for(dbname, user=role))
    params["password"] = "nyop-test"
    return conninfo.make_conninfo(**params)


class Env:
    """One database shared by the table-driven attacks."""

    def __init__(self, server):
        self.server = server
        tag = uuid.uuid4().hex[:8]
        self.dbname = f"nyop_hostile_{tag}"
        self.alice, self.bob, self.prov = f"alice_{tag}", f"bob_{tag}", f"prov_{tag}"
        self.last = self.before = self.canary_rows = None
        with psycopg.connect(server.dsn, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.dbname}"')
            for r in (self.alice, self.bob, self.prov):
                admin.execute(f"CREATE ROLE \"{r}\" LOGIN PASSWORD 'nyop-test'")
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self):
        server = self.server
        self.op = psycopg.connect(server.dsn_for(self.dbname), autocommit=True)
        op = self.op
        self.roles = [self.alice, self.bob, self.prov, one(op, "SELECT current_user::text")]
        op.execute("CREATE EXTENSION nyop CASCADE")
        op.execute(paper.TABLES_SQL)
        op.execute(f'ALTER TABLE weather_b OWNER TO "{self.prov}"')      # prov provides wb
        op.execute(paper.SINGLE_SQL)
        op.execute(paper.GROUP_SQL)
        op.execute("""CREATE TABLE big (id int PRIMARY KEY, a int, b int, c text, d float8, lu timestamptz NOT NULL);
                      INSERT INTO big SELECT i, i % 7, CASE WHEN i % 5 = 0 THEN NULL ELSE i END, 'x' || i,
                             i / 3.0, '2017-05-07 12:00+00' FROM generate_series(1, 200) i;""")
        op.execute("SELECT nyop_register_offering('big', 'big', 1000, ARRAY['id'], last_updated => 'lu', "
                   "volatility => '24 hours')")
        op.execute("SELECT nyop_set_criterion('big', 'completeness', 1)")
        op.execute("CREATE TABLE public.canary (id int PRIMARY KEY, note text); "
                   "INSERT INTO public.canary VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        for r in (self.alice, self.bob):
            op.execute(f"SELECT nyop_add_buyer('\"{r}\"')")
        op.execute(f"SELECT nyop_add_provider('\"{self.prov}\"')")
        op.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
        self.ca = self.connect(self.alice)
        self.cb = self.connect(self.bob)
        self.cp = self.connect(self.prov)
        # bob: a rejected bid, an accepted scoped bid and a masked view; alice holds only a masked view of
        # big, so that her attacks on paper_a take the path of a first purchase (a second bid on an
        # offering one holds is an upgrade, with its own checks)
        self.place(self.cb, "paper_a", 5, BOB_PREFS)
        self.bob_view = self.place(self.cb, "paper_a", 1000, BOB_PREFS, scope="station = 'LHR'",
                                   columns=["humidity"])[1]
        self.bob_big = self.place(self.cb, "big", 300, '{"completeness": 1}')[1]
        assert self.place(self.cb, "wb", 1200, GROUP_PREFS)[1]      # a bid on prov's wb (seeds every column)
        self.alice_big = self.place(self.ca, "big", 500, '{"completeness": 1}')[1]
        self.alice_view = self.alice_big
        assert None not in (self.bob_view, self.bob_big, self.alice_big)
        op.execute("ANALYZE")
        self.cb.execute(f"SELECT '{BOB_QUERY_MARKER}'")      # bob's last query, idle in pg_stat_activity
        self.secrets = [r[0] for r in op.execute("SELECT secret FROM nyop.offering_secrets")]
        self.seeds = [str(r[0]) for r in op.execute("SELECT seed FROM nyop.mask_seeds")]
        self.thresholds = [str(r[0]) for r in op.execute("SELECT threshold FROM nyop.purchases "
                                                         "WHERE threshold IS NOT NULL")]
        assert self.secrets and self.seeds and self.thresholds

    def connect(self, role):
        conn = psycopg.connect(login_dsn(self.server, self.dbname, role), autocommit=True)
        conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
        return conn

    @staticmethod
    def place(conn, offering, bid, prefs, columns=None, scope=None):
        return conn.execute("INSERT INTO nyop.bids (offering, bid, preferences, columns, scope) "
                            "VALUES (%s, %s, %s, %s, %s) RETURNING bid_id, view::text",
                            (offering, bid, prefs, columns, scope)).fetchone()

    def snap(self) -> dict:
        roles = "ARRAY[%s]::text[]" % ", ".join("'%s'" % r for r in self.roles)
        return self.op.execute(SNAPSHOT_SQL.replace("%(roles)s", roles)).fetchone()[0]

    def canary(self):
        return self.op.execute("SELECT id, note FROM public.canary ORDER BY id").fetchall()

    def reset(self, conn):
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        conn.execute("RESET ROLE")
        conn.execute("RESET ALL")
        conn.execute("DISCARD TEMP")
        conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")

    def undo_bid(self, bid_id):
        """Remove a bid an attack placed harmlessly (operator), so that the snapshot compares equal."""
        view = one(self.op, "SELECT view::text FROM nyop.bids WHERE bid_id = %s", (bid_id,))
        with self.op.transaction():
            self.op.execute("DELETE FROM nyop.purchases WHERE bid_id = %s", (bid_id,))
            self.op.execute("DELETE FROM nyop.bids WHERE bid_id = %s", (bid_id,))
            if view:
                self.op.execute(f"DROP VIEW {view}")
            # seeds are made on first use; forget the ones this bid made (they would be made again, equal)
            known = [[r["offering"], r["column_name"]] for r in (self.before or {}).get("mask_seeds", [])]
            self.op.execute("DELETE FROM nyop.mask_seeds s WHERE NOT ARRAY[s.offering, s.column_name] "
                            "= ANY(SELECT ARRAY[k->>0, k->>1] FROM jsonb_array_elements(%s::jsonb) k)",
                            (json.dumps(known),))

    def assert_unchanged(self):
        """Reset the sessions and compare the snapshot (and the canary's rows) with the last one."""
        for c in (self.ca, self.cb, self.cp, self.op):
            self.reset(c)
        before, after = self.last, self.snap()
        self.last = self.before = after
        changed = sorted(k for k in before if before[k] != after[k])
        assert not changed, "changed by the attack: %s" % {k: (before[k], after[k]) for k in changed}
        assert self.canary() == self.canary_rows

    def close(self):
        for name in ("ca", "cb", "cp", "op"):
            if getattr(self, name, None) is not None:
                getattr(self, name).close()
        with psycopg.connect(self.server.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            for r in (self.alice, self.bob, self.prov):
                admin.execute(f'DROP ROLE IF EXISTS "{r}"')


@pytest.fixture(scope="module")
def env(server):
    e = Env(server)
    try:
        yield e
    finally:
        e.close()


@pytest.fixture
def hostile(env):
    """The shared database, checked unchanged after the test (and sessions reset). The state
    after one test is the state before the next: each snapshot is taken once."""
    if env.last is None:
        env.last = env.snap()
    env.before, env.canary_rows = env.last, env.canary()
    yield env
    env.assert_unchanged()


# --------------------------------------------------------------------------------------
# the attack strings, per validator
#
# A *validator* is the server-side code that judges one kind of text: it gets the whole
# battery (every attack string) once, through its representative entry point. An *entry
# point* (an SQL function and one of its text parameters) names its validator in
# ENTRY_POINTS; test_entry_point_reaches_its_validator then proves, per entry point, that a
# valid value is accepted and that the validator's sample attacks get the same answer
# (SQLSTATE and message shape) as through the representative. A new entry point is one
# entry in ENTRY_POINTS; a new kind of text is one entry in VALIDATORS (and its entry point).
# --------------------------------------------------------------------------------------

def _scalar(conn, sql, params):
    return conn.execute(sql, params).fetchone()[0]


# harmless outcomes (an attack string that happens to be valid input)

def _offering_stored(env, attack, value, conn):
    assert one(conn, "SELECT count(*) FROM nyop.offerings WHERE name = %s", (attack,)) == 1


def _group_stored(env, attack, value, conn):
    assert one(conn, "SELECT comparison_group FROM nyop.offerings WHERE name = 'hostile'") == attack


def _default_utility(env, attack, value, conn):
    assert attack == ""                                      # an empty utility means the default
    assert one(conn, "SELECT utility FROM nyop.offerings WHERE name = 'hostile'") == "sqrt"


def _criterion_stored(env, attack, value, conn):
    assert one(conn, "SELECT tiers FROM nyop.criteria WHERE offering = 'paper_a' AND criterion = %s",
               (attack,)) == ["t1"]


def _tier_stored_verbatim(env, attack, value, conn):
    tiers = one(conn, "SELECT tiers FROM nyop.criteria WHERE offering = 'paper_a' AND criterion = 'customer_support'")
    assert tiers == ["E-mail", "Phone", attack]
    q = one(conn, "SELECT nyop_quote('paper_a', 1200, '{\"customer_support\": 1}')")
    assert q["levels"]["customer_support"]["terms"] == attack


def _view_created(env, attack, value, conn):
    kind = conn.execute("SELECT relkind::text, pg_get_viewdef(%s::regclass) FROM pg_class WHERE oid = %s::regclass",
                        (value, value)).fetchone()
    assert kind[0] == "v" and "weather_a" in kind[1]


def _quote_answered(env, attack, value, conn):
    assert isinstance(value, dict) and value["offering"] == "paper_a"


def _group_ignores_unknown_column(env, attack, value, conn):
    assert isinstance(value, dict) and attack not in value.get("columns", [])


def _quality_answered(env, attack, value, conn):
    assert isinstance(value, dict) and "completeness" in value


def _harmless_bid(env, attack, value, conn):
    bid_id = value
    row = env.op.execute("SELECT buyer::text, status, scope FROM nyop.bids WHERE bid_id = %s", (bid_id,)).fetchone()
    env.undo_bid(bid_id)
    assert row[0] == env.alice and row[1] in ("accepted", "rejected") and row[2] == attack


def _envelope_42501(env, attack, value, conn):
    assert_envelope_refused(value, {"42501"})


def _envelope_refused(env, attack, value, conn):
    assert_envelope_refused(value)


def _set_then(setting, sql):
    def run(conn, attack):
        conn.execute("SELECT set_config(%s, %s, false)", (setting, attack))
        return _scalar(conn, sql, None)
    return run


OPERATOR, BUYER, PROVIDER = "operator", "buyer", "provider"
SAMPLE = ("break-out-drop", "subquery-secret", "long-100k")      # a validator's default sample attacks


@dataclass(frozen=True)
class Validator:
    """Server-side code judging one kind of text. ``rep``: the entry point that gets the whole
    battery; ``shape``: a regular expression every refusal's primary message matches (None: it
    refuses nothing); ``sample``: the attacks every other entry point of the validator gets;
    ``uniform``: it gives every string one and the same answer (it never reads the text, or only
    compares it with a list), so its battery is the sample: one test per behaviour."""
    name: str
    where: str
    rep: str
    shape: str | None
    sample: tuple = SAMPLE
    uniform: bool = False


VALIDATORS = {v.name: v for v in [
    Validator("name", "registration: an offering's or comparison group's name (letters, digits, _)",
              "register.name", r" is not a valid name$"),
    Validator("criterion_name", "registration: a criterion's name (lower case)", "criterion.name",
              r"^criterion .* is not a valid name$"),
    Validator("relation_column", "registration: a column of the offering's relation (key, last-updated)",
              "register.key_columns", r"column .* does not exist in the offering's relation$"),
    Validator("utility", "model: a utility spec (sqrt, log, linear, root:a)", "register.utility",
              r"^utility .* is not known$"),
    Validator("pricing", "registration: a criterion's pricing ('score' or 'utility')", "criterion.pricing",
              r"^pricing of .* must be 'score' or 'utility', got "),
    Validator("tier_text", "registration: a contractual criterion's tier texts (stored verbatim)", "criterion.tiers",
              r"^tier texts of .* must be non-empty text"),
    Validator("regclass", "PostgreSQL's regclass input (before nyop runs)", "register.relation",
              r"^(invalid name syntax|relation .* does not exist|schema .* does not exist)$"),
    Validator("regrole", "PostgreSQL's regrole input (before nyop runs)", "add_buyer.role",
              r"^(invalid name syntax|role .* does not exist)$"),
    Validator("identifier", "parse_ident of nyop_universal_relation's view name", "universal_relation.name",
              r"^string is not a valid identifier"),
    Validator("offering", "the catalog: one offering by name", "quality.offering", r"^offering .* does not exist$"),
    Validator("offering_or_group", "the catalog: an offering or a comparison group by name", "quote.offering",
              r"^offering or comparison group .* does not exist$"),
    Validator("drop_offering", "nyop_drop_offering's own lookup (PL/pgSQL)", "drop_offering.offering",
              r"^offering '.*' does not exist$"),
    Validator("scope", "the scope predicate parser (scope.py)", "quote.scope", r"^scope: ",
              ("stacked-drop", "subquery-secret", "long-100k")),
    Validator("columns", "pricing: the wanted columns of one offering", "quote.columns", r"^column .* is not offered$"),
    Validator("group_columns", "a group quote: wanted columns outside the group's columns are ignored",
              "group_quote.columns", None, uniform=True),
    Validator("solver", "pricing: a quote's or bid's solver ('exact' or 'greedy')", "quote.solver",
              r"^solver must be 'exact' or 'greedy', got "),
    Validator("solve_method", "nyop_solve_mckp's method ('exact' or 'greedy')", "solve_mckp.method",
              r"^method must be 'exact' or 'greedy', got "),
    Validator("preference_key", "the preferences' criterion names (model, limits)", "quote.preference_key",
              r"^preferences name an unknown criterion"),
    Validator("preference_value", "the preferences' weights (model)", "quote.preference_value",
              r"^preference weight of .* must be a number, got "),
    Validator("bids_privilege", "PostgreSQL's column privileges on nyop.bids (the value is never read)",
              "bid.buyer_forged", r"^permission denied for table bids$", uniform=True),
    Validator("door_handler", "the definer door: a handler name against its list", "definer.handler",
              r"^nyop: no such entry point", uniform=True),
    Validator("preview_owner", "the previews trigger: the provider provides the offering (PL/pgSQL)",
              "provider.insert_preview", r"^permission denied: .* does not provide offering "),
    Validator("published_preview", "nyop_unpublish_preview's lookup (PL/pgSQL)", "provider.unpublish_preview",
              r"^no preview of .* is published"),
    Validator("clock_setting", "the nyop.now setting, read as timestamptz", "setting.nyop_now",
              r"^invalid input syntax for type timestamp with time zone"),
    Validator("cache_ttl_setting", "the nyop.quality_cache_ttl setting (seconds)", "setting.quality_cache_ttl",
              r"^nyop\.quality_cache_ttl must be a number of seconds, got "),
]}


@dataclass(frozen=True)
class Entry:
    """One text parameter of one entry point. ``run``: SQL with one %s, or callable(conn, text);
    ``control``: a valid value ({prov}, {bob}, {alice}: the roles), None when it has none;
    ``harmless``: the check of an attack string accepted as valid input (None: none may be);
    ``may_change``: catalog parts an accepted operator call may change (checked inside its
    transaction, which is rolled back); ``also``: SQLSTATEs allowed besides the usual ones."""
    name: str
    validator: str
    who: str
    run: object
    control: str | None = None
    harmless: object = None
    may_change: frozenset = frozenset()
    also: tuple = ()


E = Entry
STORED, CRITERIA = frozenset({"offerings", "secrets"}), frozenset({"criteria"})
REGISTER = "SELECT nyop_register_offering('hostile', 'weather_a', 100, ARRAY['station', 'date']"
QUOTE, EXPLAIN = f"SELECT nyop_quote('paper_a', 1000, '{PREFS}'", f"SELECT nyop_explain('paper_a', 1000, '{PREFS}'"


def bid(column, value, offering="paper_a"):
    """A bid with one more column; on big (alice holds it) a re-bid with the same scope and columns
    is an upgrade, another scope a new purchase."""
    prefs = PREFS if offering == "paper_a" else '{"completeness": 1}'
    return (f"INSERT INTO nyop.bids (offering, bid, preferences, {column}) "
            f"VALUES ('{offering}', {1000 if offering == 'paper_a' else 100}, '{prefs}', {value}) RETURNING bid_id")


PREF_KEY = "jsonb_build_object(%s::text, 1)"

# One entry per entry point: name, validator, who, run, then control / harmless / may_change / also.
ENTRY_POINTS = [
    # the operator's functions (each call in a transaction that is rolled back)
    E("register.name", "name", OPERATOR,
      "SELECT nyop_register_offering(%s::text, 'weather_a', 100, ARRAY['station', 'date'])",
      "hostile_ok", _offering_stored, STORED),
    E("register.comparison_group", "name", OPERATOR, REGISTER + ", comparison_group => %s::text)",
      "group_ok", _group_stored, STORED),
    E("register.key_columns", "relation_column", OPERATOR,
      "SELECT nyop_register_offering('hostile', 'weather_a', 100, ARRAY['station', %s::text])", "date"),
    E("register.last_updated", "relation_column", OPERATOR,
      REGISTER + ", last_updated => %s::text, volatility => '1 day')", "lastupdated"),
    E("register.utility", "utility", OPERATOR, REGISTER + ", utility => %s::text)", "log", _default_utility, STORED),
    # the cast to regclass refuses first (3F000: a "schema" part that does not exist)
    E("register.relation", "regclass", OPERATOR,
      "SELECT nyop_register_offering('hostile', %s::text::regclass, 100, ARRAY['station', 'date'])", "weather_a",
      also=("3F000",)),
    E("criterion.offering", "offering", OPERATOR, "SELECT nyop_set_criterion(%s::text, 'completeness', 1)", "paper_a"),
    E("criterion.name", "criterion_name", OPERATOR,
      "SELECT nyop_set_criterion('paper_a', %s::text, 1, tiers => ARRAY['t1'])", "support_ok", _criterion_stored,
      CRITERIA),
    E("criterion.tiers", "tier_text", OPERATOR,
      "SELECT nyop_set_criterion('paper_a', 'customer_support', 0.2, tiers => ARRAY['E-mail', 'Phone', %s::text])",
      "Phone 24/7", _tier_stored_verbatim, CRITERIA),
    E("criterion.pricing", "pricing", OPERATOR,
      "SELECT nyop_set_criterion('paper_a', 'completeness', 1, pricing => %s::text)", "utility"),
    E("drop_offering.offering", "drop_offering", OPERATOR, "SELECT nyop_drop_offering(%s::text)", "wa"),
    E("universal_relation.name", "identifier", OPERATOR,
      "SELECT nyop_universal_relation(%s::text, ARRAY['weather_a']::regclass[])::text", "u_ok", _view_created,
      frozenset({"relations"}), ("3F000",)),
    E("add_buyer.role", "regrole", OPERATOR, "SELECT nyop_add_buyer(%s::text::regrole)", '"{prov}"'),
    E("remove_buyer.role", "regrole", OPERATOR, "SELECT nyop_remove_buyer(%s::text::regrole)", '"{bob}"'),
    E("add_provider.role", "regrole", OPERATOR, "SELECT nyop_add_provider(%s::text::regrole)", '"{alice}"'),
    E("operator.quality_scope", "scope", OPERATOR, "SELECT nyop_quality('wb', %s::text)", "station = 'FRA'",
      _quality_answered),
    # a registered buyer (alice), over her own connection
    E("quote.offering", "offering_or_group", BUYER, f"SELECT nyop_quote(%s::text, 1000, '{PREFS}')", "paper_a"),
    E("quote.columns", "columns", BUYER, QUOTE + ", ARRAY[%s::text])", "humidity"),
    E("quote.scope", "scope", BUYER, QUOTE + ", scope => %s::text)", "station = 'FRA'", _quote_answered),
    E("quote.solver", "solver", BUYER, QUOTE + ", solver => %s::text)", "greedy"),
    E("quote.preference_key", "preference_key", BUYER, f"SELECT nyop_quote('paper_a', 1000, {PREF_KEY})",
      "timeliness"),
    E("quote.preference_value", "preference_value", BUYER,
      "SELECT nyop_quote('paper_a', 1000, jsonb_build_object('timeliness', %s::text))"),
    E("group_quote.columns", "group_columns", BUYER,
      f"SELECT nyop_quote('weather', 1000, '{GROUP_PREFS}', ARRAY[%s::text])", "humidity",
      _group_ignores_unknown_column),
    E("explain.offering", "offering_or_group", BUYER, f"SELECT nyop_explain(%s::text, 1000, '{PREFS}')", "paper_a"),
    E("explain.columns", "columns", BUYER, EXPLAIN + ", ARRAY[%s::text])", "humidity"),
    E("explain.scope", "scope", BUYER, EXPLAIN + ", scope => %s::text)", "station = 'FRA'", _quote_answered),
    E("explain.solver", "solver", BUYER, EXPLAIN + ", solver => %s::text)", "greedy"),
    E("explain.preference_key", "preference_key", BUYER, f"SELECT nyop_explain('paper_a', 1000, {PREF_KEY})",
      "timeliness"),
    E("quality.offering", "offering", BUYER, "SELECT nyop_quality(%s::text)", "paper_a"),
    E("quality.scope", "scope", BUYER, "SELECT nyop_quality('paper_a', %s::text)", "station = 'FRA'",
      _quality_answered),
    E("bid.offering", "offering_or_group", BUYER,
      f"INSERT INTO nyop.bids (offering, bid, preferences) VALUES (%s::text, 1000, '{PREFS}') RETURNING bid_id",
      "paper_a"),
    E("bid.columns", "columns", BUYER, bid("columns", "ARRAY[%s::text]"), "humidity"),
    E("bid.scope", "scope", BUYER, bid("scope", "%s::text"), "station = 'FRA'", _harmless_bid),
    E("bid.solver", "solver", BUYER, bid("solver", "%s::text"), "greedy"),
    E("bid.preference_key", "preference_key", BUYER,
      f"INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, {PREF_KEY}) RETURNING bid_id",
      "timeliness"),
    E("bid.buyer_forged", "bids_privilege", BUYER, bid("buyer", "%s::text::regrole")),
    E("upgrade.scope", "scope", BUYER, bid("scope", "%s::text", "big"), harmless=_harmless_bid),
    E("upgrade.columns", "columns", BUYER, bid("columns", "ARRAY[%s::text]", "big")),
    E("upgrade.solver", "solver", BUYER, bid("solver", "%s::text", "big"), "greedy"),
    E("upgrade.preference_key", "preference_key", BUYER,
      f"INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('big', 100, {PREF_KEY}) RETURNING bid_id",
      "completeness"),
    E("solve_mckp.method", "solve_method", BUYER,
      "SELECT nyop_solve_mckp('{{1,2},{1,3}}', '{{1,2},{1,3}}', 4, %s::text)", "greedy"),
    E("definer.handler", "door_handler", BUYER, "SELECT nyop._call_definer(%s::text, '{}')", harmless=_envelope_42501),
    E("definer.quote_offering", "offering_or_group", BUYER,
      f"SELECT nyop._call_buyer('quote', jsonb_build_object('offering', %s::text, 'bid', 1000, "
      f"'preferences', '{PREFS}'::jsonb))", "paper_a", _envelope_refused),
    E("definer.audit_offering", "offering", BUYER,
      "SELECT nyop._call_definer('audit_offering', jsonb_build_object('offering', %s::text))", "paper_a",
      _envelope_refused),
    E("setting.nyop_now", "clock_setting", BUYER, _set_then("nyop.now", QUOTE + ")"), paper.PAPER_NOW,
      _quote_answered),
    E("setting.quality_cache_ttl", "cache_ttl_setting", BUYER, _set_then("nyop.quality_cache_ttl", QUOTE + ")"), "0",
      _quote_answered),
    # a provider (prov provides wb), over its own connection
    E("provider.audit", "offering", PROVIDER, "SELECT nyop_audit(%s::text)", "wb"),
    E("provider.quality_scope", "scope", PROVIDER, "SELECT nyop_quality('wb', %s::text)", "station = 'FRA'",
      _quality_answered),
    E("provider.insert_preview", "preview_owner", PROVIDER,
      "INSERT INTO nyop.previews (offering) VALUES (%s::text) RETURNING view::text", "wb"),
    E("provider.publish_preview", "preview_owner", PROVIDER, "SELECT nyop_publish_preview(%s::text)::text", "wb"),
    E("provider.unpublish_preview", "published_preview", PROVIDER, "SELECT nyop_unpublish_preview(%s::text)"),
]
ENTRIES = {e.name: e for e in ENTRY_POINTS}
assert len(ENTRIES) == len(ENTRY_POINTS)
assert all(e.validator in VALIDATORS for e in ENTRY_POINTS)
assert all(ENTRIES[v.rep].validator == v.name and set(v.sample) <= dict(ATTACKS).keys() for v in VALIDATORS.values())


@dataclass(frozen=True)
class Outcome:
    """What an attempt came to: a refusal's SQLSTATE and message (an error envelope counts as
    a refusal), or sqlstate None: accepted as valid input (and checked harmless)."""
    sqlstate: str | None
    message: str | None = None


def attempt(env, entry: Entry, text: str) -> Outcome:
    """One attack string through one entry point: a clean refusal, or an accepted value that its
    harmless check approves (an operator's call is checked, then undone, inside a transaction)."""
    if entry.who == OPERATOR:
        conn = env.op
        with conn.transaction(force_rollback=True):
            try:
                value = _scalar(conn, entry.run, (text,))
            except psycopg.Error as e:
                assert_clean_refusal(e, entry.also)
                return Outcome(e.sqlstate, e.diag.message_primary)
            assert entry.harmless is not None, f"{entry.name} accepted {text!r}: {value!r}"
            entry.harmless(env, text, value, conn)
            inside = env.snap()
            changed = {k for k in env.before if env.before[k] != inside[k]}
            assert changed <= entry.may_change, f"{entry.name} also changed {changed - entry.may_change}"
            assert inside["canary"]
    else:
        conn = env.cp if entry.who == PROVIDER else env.ca
        try:
            value = entry.run(conn, text) if callable(entry.run) else _scalar(conn, entry.run, (text,))
        except psycopg.Error as e:
            assert_clean_refusal(e, entry.also)
            return Outcome(e.sqlstate, e.diag.message_primary)
        assert entry.harmless is not None, f"{entry.name} accepted {text!r}: {value!r}"
        entry.harmless(env, text, value, conn)
    if isinstance(value, dict) and "error" in value:         # the definer door's error envelope
        return Outcome(value["error"]["sqlstate"], value["error"]["message"])
    return Outcome(None)


@pytest.mark.parametrize("validator, attack", [
    pytest.param(v, a.values[0], id=f"{v.name}-{a.id}") for v in VALIDATORS.values() for a in ATTACK_PARAMS
    if not v.uniform or a.id in v.sample])
def test_validator_battery(hostile, validator, attack):
    """Every attack string through the validator's representative entry point."""
    attempt(hostile, ENTRIES[validator.rep], attack)


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in ENTRY_POINTS])
def test_entry_point_reaches_its_validator(hostile, entry):
    """A valid value is accepted (the attacks are not all refused for some other reason), and the
    validator's sample attacks get the answer they get through its representative: the same
    SQLSTATE (or acceptance), with a message of the validator's shape. The catalog snapshot is
    compared after every attempt."""
    env = hostile
    if entry.control is not None:
        value = entry.control.format(prov=env.prov, bob=env.bob, alice=env.alice)
        conn = {OPERATOR: env.op, PROVIDER: env.cp}.get(entry.who, env.ca)
        with conn.transaction(force_rollback=True):
            result = entry.run(conn, value) if callable(entry.run) else _scalar(conn, entry.run, (value,))
            if isinstance(result, dict):
                assert "error" not in result, result
        env.assert_unchanged()
    validator = VALIDATORS[entry.validator]
    rep = ENTRIES[validator.rep]
    for name in validator.sample:
        text = dict(ATTACKS)[name]
        got = attempt(env, entry, text)
        env.assert_unchanged()
        if rep is not entry:
            expected = attempt(env, rep, text)
            env.assert_unchanged()
            assert got.sqlstate == expected.sqlstate, f"{entry.name} vs {rep.name} on {name}: {got} / {expected}"
        if got.sqlstate is not None:
            assert validator.shape and re.search(validator.shape, got.message), \
                f"{entry.name} on {name}: {got.message!r} is not of the shape of {validator.name}"


# --------------------------------------------------------------------------------------
# hostile numbers: bids, preferences, provider parameters, the bare solver
# --------------------------------------------------------------------------------------

BID_VALUES = [
    ("nan", "NaN", "refused"), ("infinity", "Infinity", "refused"), ("minus-infinity", "-Infinity", "refused"),
    ("negative", "-1", "refused"), ("zero", "0", "refused"), ("underflow-1e-400", "1e-400", "refused"),
    ("tiny", "0.001", "rejected"), ("huge-1e300", "1e300", "full"), ("max-float-1e308", "1e308", "full"),
    ("beyond-float-1.8e308", "1.8e308", "full-or-refused"), ("beyond-float-1e400", "1e400", "full-or-refused"),
    ("many-digits", "123456789012345678901234567890.123456789", "full"),
]


def _check_bid_outcome(outcome, accepted_quote):
    if outcome == "rejected":
        assert accepted_quote["accepted"] is False and accepted_quote["minimum_bid"] > 0.001
    else:
        assert accepted_quote["accepted"] is True and accepted_quote["full_quality"] is True
        assert accepted_quote["residual"] >= 0


@pytest.mark.parametrize("value, outcome", [pytest.param(v, o, id=i) for i, v, o in BID_VALUES])
def test_hostile_bid_in_quote(hostile, value, outcome):
    try:
        q = one(hostile.ca, f"SELECT nyop_quote('paper_a', %s::numeric, '{PREFS}')", (value,))
    except psycopg.Error as e:
        assert_clean_refusal(e)
        assert outcome in ("refused", "full-or-refused"), f"{value} refused: {e}"
        return
    assert outcome != "refused", f"bid {value} accepted: {q}"
    _check_bid_outcome(outcome, q)


@pytest.mark.parametrize("value, outcome", [pytest.param(v, o, id=i) for i, v, o in BID_VALUES])
def test_hostile_bid_in_insert(hostile, value, outcome):
    try:
        bid_id, status, quote = hostile.ca.execute(
            f"INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', %s::numeric, '{PREFS}') "
            "RETURNING bid_id, status, quote", (value,)).fetchone()
    except psycopg.Error as e:
        assert_clean_refusal(e)
        assert outcome in ("refused", "full-or-refused"), f"{value} refused: {e}"
        return
    hostile.undo_bid(bid_id)
    assert outcome != "refused", f"bid {value} placed: {status} {quote}"
    assert status == ("rejected" if outcome == "rejected" else "accepted")
    _check_bid_outcome(outcome, quote)


PREFERENCES = [
    ("negative", '{"timeliness": -1}'), ("nan-string", '{"timeliness": "NaN"}'),
    ("infinity-string", '{"timeliness": "Infinity"}'), ("number-string", '{"timeliness": "1"}'),
    ("boolean", '{"timeliness": true}'), ("json-null", '{"timeliness": null}'), ("array-value", '{"timeliness": [1]}'),
    ("object-value", '{"timeliness": {"x": 1}}'), ("beyond-float", '{"timeliness": 1e400}'),
    ("underflow", '{"timeliness": 1e-400}'), ("unknown-criterion", '{"nosuch": 1}'),
    ("unknown-and-known", '{"timeliness": 1, "nosuch": 1}'), ("all-zero", '{"timeliness": 0, "amount_of_data": 0}'),
    ("empty-object", "{}"), ("array", "[]"), ("array-of-object", '[{"timeliness": 1}]'), ("string", '"timeliness"'),
    ("number", "1"), ("json-null-document", "null"), ("boolean-document", "true"),
    ("json-nan", '{"timeliness": NaN}'), ("json-infinity", '{"timeliness": Infinity}'),
    ("many-unknown-keys", json.dumps({f"k{i}": 1 for i in range(5000)})),
    ("sql-null", None),
]


@pytest.mark.parametrize("prefs", [pytest.param(p, id=i) for i, p in PREFERENCES])
@pytest.mark.parametrize("via", ["quote", "bid"])
def test_hostile_preferences(hostile, via, prefs):
    if via == "quote":
        sql = "SELECT nyop_quote('paper_a', 1000, %s::jsonb)"
    else:
        sql = "INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, %s::jsonb) RETURNING bid_id"
    try:
        value = one(hostile.ca, sql, (prefs,))
    except psycopg.Error as e:
        assert_clean_refusal(e)
        return
    if via == "bid":
        hostile.undo_bid(value)
    pytest.fail(f"preferences {prefs!r} were accepted")


COLUMN_LISTS = [
    ("duplicate", ["station", "station"]), ("duplicate-non-key", ["humidity", "temperature", "humidity"]),
    ("unknown", ["nosuch"]), ("ctid", ["ctid"]), ("xmin", ["xmin"]), ("xmax", ["xmax"]), ("cmin", ["cmin"]),
    ("cmax", ["cmax"]), ("tableoid", ["tableoid"]), ("oid", ["oid"]), ("key-hash", ["nyop_kh"]),
    ("history-valid-to", ["nyop_valid_to"]), ("history-next-lu", ["nyop_next_lu"]), ("empty-name", [""]),
    ("null-element", [None]), ("wrong-case", ["Station"]), ("padded", [" station"]),
    ("quoted", ['"station"']), ("qualified", ["weather_a.station"]),
    ("known-then-unknown", ["humidity", "secret"]), ("many", [f"c{i}" for i in range(5000)]),
]


@pytest.mark.parametrize("columns", [pytest.param(c, id=i) for i, c in COLUMN_LISTS])
@pytest.mark.parametrize("via", ["quote", "bid"])
def test_hostile_column_list(hostile, via, columns):
    if via == "quote":
        sql = f"SELECT nyop_quote('paper_a', 1000, '{PREFS}', %s::text[])"
    else:
        sql = (f"INSERT INTO nyop.bids (offering, bid, preferences, columns) VALUES ('paper_a', 1000, '{PREFS}', "
               "%s::text[]) RETURNING bid_id")
    try:
        value = one(hostile.ca, sql, (columns,))
    except psycopg.Error as e:
        assert_clean_refusal(e)
        return
    if via == "bid":
        hostile.undo_bid(value)
    pytest.fail(f"columns {columns!r} were accepted")


def test_two_dimensional_column_list_refused(hostile):
    with pytest.raises(psycopg.Error) as e:
        hostile.ca.execute(f"SELECT nyop_quote('paper_a', 1000, '{PREFS}', ARRAY[['station', 'date']])")
    assert_clean_refusal(e.value)


def test_empty_column_list_is_no_preference(hostile):
    q = one(hostile.ca, f"SELECT nyop_quote('paper_a', 1000, '{PREFS}', ARRAY[]::text[])")
    assert q["accepted"] and q["columns"] == one(hostile.ca, f"SELECT nyop_quote('paper_a', 1000, '{PREFS}')")["columns"]


PROVIDER_NUMBERS = [
    ("ask-nan", "nyop_register_offering('hostile', 'weather_a', 'NaN', ARRAY['station', 'date'])", False),
    ("ask-infinity", "nyop_register_offering('hostile', 'weather_a', 'Infinity', ARRAY['station', 'date'])", False),
    ("ask-minus-infinity", "nyop_register_offering('hostile', 'weather_a', '-Infinity', ARRAY['station', 'date'])",
     False),
    ("ask-zero", "nyop_register_offering('hostile', 'weather_a', 0, ARRAY['station', 'date'])", False),
    ("ask-negative", "nyop_register_offering('hostile', 'weather_a', -1, ARRAY['station', 'date'])", False),
    ("ask-beyond-float", "nyop_register_offering('hostile', 'weather_a', 1e400, ARRAY['station', 'date'])", False),
    ("ask-huge", "nyop_register_offering('hostile', 'weather_a', 1e300, ARRAY['station', 'date'])", True),
    ("reserve-above-ask", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], "
                          "reserve_price => 11)", False),
    ("reserve-zero", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], "
                     "reserve_price => 0)", False),
    ("reserve-nan", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], "
                    "reserve_price => 'NaN')", False),
    ("reserve-beyond-float", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], "
                             "reserve_price => 1e400)", False),
    ("levels-zero", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], levels => 0)",
     False),
    ("levels-huge", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], "
                    "levels => 2147483647)", False),
    ("levels-null", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], levels => NULL)",
     False),
    ("volatility-zero", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], "
                        "last_updated => 'lastupdated', volatility => '0')", False),
    ("volatility-negative", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], "
                            "last_updated => 'lastupdated', volatility => '-1 day')", False),
    ("volatility-huge", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], "
                        "last_updated => 'lastupdated', volatility => '178000000 years')", False),
    ("volatility-alone", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'date'], "
                         "volatility => '1 day')", False),
    ("key-columns-null", "nyop_register_offering('hostile', 'weather_a', 10, NULL)", False),
    ("key-columns-duplicate", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['station', 'station'])",
     False),
    ("key-columns-system", "nyop_register_offering('hostile', 'weather_a', 10, ARRAY['ctid'])", False),
    ("weight-nan", "nyop_set_criterion('paper_a', 'timeliness', 'NaN')", False),
    ("weight-infinity", "nyop_set_criterion('paper_a', 'timeliness', 'Infinity')", False),
    ("weight-negative", "nyop_set_criterion('paper_a', 'timeliness', -0.5)", False),
    ("weight-beyond-float", "nyop_set_criterion('paper_a', 'timeliness', 1e400)", False),
    ("weight-null", "nyop_set_criterion('paper_a', 'timeliness', NULL)", False),
    ("threshold-one", "nyop_set_criterion('paper_a', 'timeliness', 1, threshold => 1)", False),
    ("threshold-negative", "nyop_set_criterion('paper_a', 'timeliness', 1, threshold => -0.1)", False),
    ("threshold-nan", "nyop_set_criterion('paper_a', 'timeliness', 1, threshold => 'NaN')", False),
    ("min-level-negative", "nyop_set_criterion('paper_a', 'timeliness', 1, min_level => -1)", False),
    ("min-level-huge", "nyop_set_criterion('paper_a', 'timeliness', 1, min_level => 2147483647)", False),
    ("tiers-empty", "nyop_set_criterion('paper_a', 'customer_support', 1, tiers => ARRAY[]::text[])", False),
    ("tiers-null-element", "nyop_set_criterion('paper_a', 'customer_support', 1, tiers => ARRAY[NULL]::text[])",
     False),
    ("tiers-too-many", "nyop_set_criterion('paper_a', 'customer_support', 1, "
                       "tiers => array_fill('t'::text, ARRAY[10]))", False),
    ("tiers-2d", "nyop_set_criterion('paper_a', 'customer_support', 1, tiers => ARRAY[['a', 'b'], ['c', 'd']])",
     False),
    ("tiers-on-measured", "nyop_set_criterion('paper_a', 'timeliness', 1, tiers => ARRAY['x'])", False),
    ("commission-nan", "nyop_set_commission('NaN')", False),
    ("commission-infinity", "nyop_set_commission('Infinity')", False),
    ("commission-negative", "nyop_set_commission(-0.1)", False),
    ("commission-one", "nyop_set_commission(1)", False),
    ("commission-beyond-float", "nyop_set_commission(1e400)", False),
    ("commission-null", "nyop_set_commission(NULL)", False),
    ("commission-half", "nyop_set_commission(0.5)", True),
]


@pytest.mark.parametrize("call, harmless", [pytest.param(c, h, id=i) for i, c, h in PROVIDER_NUMBERS])
def test_hostile_provider_numbers(hostile, call, harmless):
    op = hostile.op
    with op.transaction(force_rollback=True):
        try:
            op.execute(f"SELECT {call}")
        except psycopg.Error as e:
            assert_clean_refusal(e)
            return
        assert harmless, f"{call} was accepted"


SOLVER_INPUTS = [
    ("nan-weight", "'{{NaN,1}}'", "'{{1,2}}'", "1"), ("infinite-weight", "'{{Infinity,1}}'", "'{{1,2}}'", "1"),
    ("nan-profit", "'{{1,2}}'", "'{{NaN,2}}'", "3"), ("infinite-profit", "'{{1,2}}'", "'{{Infinity,2}}'", "3"),
    ("negative-weight", "'{{-1,2}}'", "'{{1,2}}'", "3"), ("negative-profit", "'{{1,2}}'", "'{{-1,-2}}'", "3"),
    ("capacity-nan", "'{{1,2}}'", "'{{1,2}}'", "'NaN'"), ("capacity-infinity", "'{{1,2}}'", "'{{1,2}}'", "'Infinity'"),
    ("capacity-negative", "'{{1,2}}'", "'{{1,2}}'", "-1"), ("capacity-null", "'{{1,2}}'", "'{{1,2}}'", "NULL"),
    ("capacity-huge", "'{{1,2}}'", "'{{1,2}}'", "1e308"), ("huge-values", "'{{1e308,1e308}}'", "'{{1e308,1e308}}'",
                                                            "1e308"),
    ("empty", "'{}'", "'{}'", "1"), ("one-dimensional", "'{1,2}'", "'{1,2}'", "3"),
    ("three-dimensional", "'{{{1}}}'", "'{{{1}}}'", "3"), ("shape-mismatch", "'{{1,2}}'", "'{{1,2,3}}'", "3"),
    ("null-element", "'{{NULL,1}}'", "'{{1,2}}'", "3"), ("null-array", "NULL", "'{{1,2}}'", "3"),
    ("infeasible", "'{{5,6}}'", "'{{1,2}}'", "1"),
]


@pytest.mark.parametrize("weights, profits, capacity", [pytest.param(w, p, c, id=i) for i, w, p, c in SOLVER_INPUTS])
@pytest.mark.parametrize("method", ["exact", "greedy"])
def test_hostile_solver_input(hostile, method, weights, profits, capacity):
    try:
        r = one(hostile.ca, f"SELECT nyop_solve_mckp({weights}::float8[], {profits}::float8[], "
                            f"{capacity}::float8, %s)", (method,))
    except psycopg.Error as e:
        assert_clean_refusal(e)
        return
    assert r is None or (isinstance(r["choice"], list) and r["weight"] <= float(capacity.strip("'")) + 1e-9), r


# nyop_solve_mckp hands nyop._solve_mckp its arrays as array_send bytes; a buyer may execute the
# internal function directly, with any bytes (nyop_server/pgarray.py must refuse them cleanly)
SEND_OK = "array_send('{{1,2},{3,4}}'::float8[])"
FORGED_SENDS = [
    ("empty-bytes", "''::bytea"), ("short-header", "'\\x0000000200'::bytea"),
    ("int4-array", "array_send('{{1,2}}'::int4[])"), ("text-array", "array_send('{{a,b}}'::text[])"),
    ("cut-short", f"substring({SEND_OK} from 1 for 30)"), ("trailing-byte", f"{SEND_OK} || '\\x00'::bytea"),
    ("negative-ndim", "'\\xffffffff00000000000002bd'::bytea"),
    ("huge-dimension", "'\\x0000000100000000000002bd7fffffff00000001'::bytea"),
    ("zero-dimension", "'\\x0000000200000000000002bd000000000000000100000000000000010000000c'::bytea"),
    ("negative-dimension", "'\\x0000000200000000000002bdffffffff0000000100000001000000010000000c'::bytea"),
    ("nulls-flag-lies", "'\\x0000000100000001000002bd000000020000000100000008'::bytea"),
    ("bad-element-length", "'\\x0000000100000000000002bd00000001000000010000000700000000000000'::bytea"),
    ("large-bad-lengths", "overlay(array_send(array_fill(1.0::float8, ARRAY[3, 100])) placing '\\x00000007' "
                          "from 29 for 4)"),
    ("random-bytes", "decode(repeat('deadbeef', 64), 'hex')"),
]


@pytest.mark.parametrize("forged", [pytest.param(v, id=i) for i, v in FORGED_SENDS])
def test_forged_array_bytes_refused(hostile, forged):
    """Whatever bytes reach nyop._solve_mckp: a clean refusal (or an answer), never a traceback."""
    try:
        r = one(hostile.ca, f"SELECT nyop._unwrap(nyop._solve_mckp({forged}, {SEND_OK}, 10, 'exact'))")
    except psycopg.Error as e:
        assert_clean_refusal(e)
        return
    assert r is None or isinstance(r["choice"], list), r


# --------------------------------------------------------------------------------------
# the definer door with forged payloads
# --------------------------------------------------------------------------------------

HANDLERS = ["place_bid", "register_offering", "set_criterion", "call", "handler", "ensure_history", "create_view",
            "relation_facts", "measure", "solve_mckp_arrays", "solve_mckp_sent", "__init__", "HANDLERS", "json", "catalog", ""]


@pytest.mark.parametrize("handler", HANDLERS)
def test_definer_door_refuses_writing_handlers(hostile, handler):
    payload = {"bid_id": 999, "offering": "paper_a", "buyer": hostile.alice, "bid": 1000,
               "preferences": json.loads(PREFS), "name": "x", "relid": 1, "ask_price": 1, "key_columns": ["station"],
               "criterion": "completeness", "provider_weight": 1}
    r = one(hostile.ca, "SELECT nyop._call_definer(%s, %s::jsonb)", (handler, json.dumps(payload)))
    assert_envelope_refused(r, {"42501"})


DEFINER_PAYLOADS = [
    ("quote-unknown-argument", "quote", '{"offering": "paper_a", "bid": 1000, "preferences": {"timeliness": 1}, '
                                        '"bogus": 1}'),
    ("quote-missing-arguments", "quote", '{"offering": "paper_a"}'),
    ("quote-array-payload", "quote", "[1, 2]"),
    ("quote-string-payload", "quote", '"paper_a"'),
    ("quote-number-payload", "quote", "1"),
    ("quote-null-payload", "quote", "null"),
    ("quote-bid-beyond-float", "quote", '{"offering": "paper_a", "bid": 1e400, "preferences": {"timeliness": 1}}'),
    ("quote-weight-beyond-float", "quote", '{"offering": "paper_a", "bid": 1000, "preferences": {"timeliness": 1e400}}'),
    ("quote-offering-object", "quote", '{"offering": {"a": 1}, "bid": 1000, "preferences": {"timeliness": 1}}'),
    ("quote-scope-array", "quote", '{"offering": "paper_a", "bid": 1000, "preferences": {"timeliness": 1}, '
                                   '"scope": ["station = 1"]}'),
    ("quality-unknown-argument", "quality_of", '{"offering": "paper_a", "bogus": 1}'),
    ("quality-no-arguments", "quality_of", "{}"),
    ("solver-unknown-argument", "solve_mckp", '{"weights": [[1]], "profits": [[1]], "capacity": 1, "x": 1}'),
    ("solver-beyond-float", "solve_mckp", '{"weights": [[1]], "profits": [[1]], "capacity": 1e400}'),
    ("solver-strings", "solve_mckp", '{"weights": [["a"]], "profits": [[1]], "capacity": 1}'),
]


@pytest.mark.parametrize("handler, payload", [pytest.param(h, p, id=i) for i, h, p in DEFINER_PAYLOADS])
def test_definer_door_with_forged_payload(hostile, handler, payload):
    try:
        r = one(hostile.ca, "SELECT nyop._call_definer(%s, %s::jsonb)", (handler, payload))
    except psycopg.Error as e:
        assert_clean_refusal(e)
        return
    assert_envelope_refused(r)


# --------------------------------------------------------------------------------------
# a registered buyer against privileges, RLS and internals
# --------------------------------------------------------------------------------------

def _others(env):
    return {"bob": env.bob, "prov": env.prov, "bob_view": env.bob_view, "alice_view": env.alice_view,
            "history": "nyop.history_%d" % one(env.op, "SELECT 'weather_a'::regclass::oid")}


BUYER_REFUSED = [
    # forging the bid row
    ("forge-buyer-other", "INSERT INTO nyop.bids (offering, bid, preferences, buyer) "
                          "VALUES ('paper_a', 1000, '{p}', '\"{bob}\"')"),
    ("forge-buyer-superuser", "INSERT INTO nyop.bids (offering, bid, preferences, buyer) "
                              "VALUES ('paper_a', 1000, '{p}', 'postgres')"),
    ("forge-status", "INSERT INTO nyop.bids (offering, bid, preferences, status) VALUES ('paper_a', 1, '{p}', 'accepted')"),
    ("forge-quote", "INSERT INTO nyop.bids (offering, bid, preferences, quote) VALUES ('paper_a', 1, '{p}', '{{}}')"),
    ("forge-view", "INSERT INTO nyop.bids (offering, bid, preferences, view) VALUES ('paper_a', 1, '{p}', '{bob_view}')"),
    ("forge-sold", "INSERT INTO nyop.bids (offering, bid, preferences, sold) VALUES ('paper_a', 1, '{p}', 'paper_a')"),
    ("forge-placed-at", "INSERT INTO nyop.bids (offering, bid, preferences, placed_at) "
                        "VALUES ('paper_a', 1, '{p}', '2000-01-01')"),
    ("forge-bid-id", "INSERT INTO nyop.bids (bid_id, offering, bid, preferences) OVERRIDING SYSTEM VALUE "
                     "VALUES (1, 'paper_a', 1, '{p}')"),
    ("upsert-status", "INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1, '{p}') "
                      "ON CONFLICT (bid_id) DO UPDATE SET status = 'accepted'"),
    ("copy-forged-buyer", "COPY nyop.bids (offering, bid, preferences, buyer) FROM STDIN"),
    ("update-status", "UPDATE nyop.bids SET status = 'accepted'"),
    ("update-bid", "UPDATE nyop.bids SET bid = 1"),
    ("delete-bids", "DELETE FROM nyop.bids"),
    ("truncate-bids", "TRUNCATE nyop.bids"),
    ("truncate-offerings", "TRUNCATE nyop.offerings CASCADE"),
    ("truncate-base-table", "TRUNCATE weather_a"),
    ("lock-bids", "LOCK TABLE nyop.bids IN ACCESS EXCLUSIVE MODE"),
    ("disable-rls", "ALTER TABLE nyop.bids DISABLE ROW LEVEL SECURITY"),
    ("disable-trigger", "ALTER TABLE nyop.bids DISABLE TRIGGER place_bid"),
    ("drop-policy", "DROP POLICY buyer_reads_own ON nyop.bids"),
    ("create-policy", "CREATE POLICY mine ON nyop.bids FOR SELECT USING (true)"),
    ("row-security-off", "SET row_security = off; SELECT * FROM nyop.bids"),
    ("replication-role", "SET session_replication_role = replica"),
    # reading what is not its own
    ("read-other-view", "SELECT * FROM {bob_view}"),
    ("read-offerings", "SELECT * FROM nyop.offerings"),
    ("read-criteria", "SELECT * FROM nyop.criteria"),
    ("read-secrets", "SELECT * FROM nyop.offering_secrets"),
    ("copy-secrets", "COPY nyop.offering_secrets TO STDOUT"),
    ("read-mask-seeds", "SELECT * FROM nyop.mask_seeds"),
    ("read-purchases", "SELECT threshold FROM nyop.purchases"),
    ("read-buyers", "SELECT * FROM nyop.buyers"),
    ("read-histories", "SELECT * FROM nyop.histories"),
    ("read-history", "SELECT * FROM {history}"),
    ("read-provider-bids", "SELECT * FROM nyop.provider_bids"),
    ("read-base-table", "SELECT * FROM weather_a"),
    ("read-other-base-table", "SELECT * FROM public.weather_b"),
    ("read-canary", "SELECT * FROM public.canary"),
    ("read-pg-statistic", "SELECT * FROM pg_statistic"),
    ("read-pg-authid", "SELECT rolpassword FROM pg_authid"),
    # roles
    ("set-role-other-buyer", "SET ROLE \"{bob}\""),
    ("set-role-provider", "SET ROLE \"{prov}\""),
    ("set-role-superuser", "SET ROLE postgres"),
    ("set-session-authorization", "SET SESSION AUTHORIZATION postgres"),
    ("set-config-role", "SELECT set_config('role', 'postgres', false)"),
    ("set-role-read-all-data", "SET ROLE pg_read_all_data"),
    ("set-role-read-server-files", "SET ROLE pg_read_server_files"),
    ("grant-self-role", "GRANT \"{bob}\" TO CURRENT_USER"),
    ("alter-self-superuser", "ALTER ROLE CURRENT_USER SUPERUSER"),
    ("alter-self-bypassrls", "ALTER ROLE CURRENT_USER BYPASSRLS"),
    ("alter-self-setting", "ALTER ROLE CURRENT_USER SET nyop.now = 'infinity'"),
    # internals and operator functions
    ("call-place-bid", "SELECT nyop._call('place_bid', jsonb_build_object('bid_id', 999, 'offering', 'paper_a', "
                       "'buyer', '{bob}', 'bid', 1000, 'preferences', '{p}'::jsonb))"),
    ("call-register", "SELECT nyop._call('register_offering', '{{}}')"),
    ("call-set-criterion", "SELECT nyop._call('set_criterion', '{{}}')"),
    ("call-quote", "SELECT nyop._call('quote', '{{}}')"),
    ("capture-update", "SELECT nyop._capture_update()"),
    ("capture-delete", "SELECT nyop._capture_delete()"),
    ("capture-truncate", "SELECT nyop._capture_truncate()"),
    ("place-bid-trigger", "SELECT nyop._place_bid()"),
    ("bids-immutable-trigger", "SELECT nyop._bids_immutable()"),
    ("universal-relation-internal", "SELECT nyop._universal_relation('public', 'x', ARRAY['weather_a']::regclass[])"),
    ("universal-relation", "SELECT nyop_universal_relation('x', ARRAY['weather_a']::regclass[])"),
    ("register-offering", "SELECT nyop_register_offering('x', 'weather_a', 1, ARRAY['station'])"),
    ("set-criterion", "SELECT nyop_set_criterion('paper_a', 'timeliness', 100)"),
    ("drop-offering", "SELECT nyop_drop_offering('paper_a')"),
    ("add-buyer", "SELECT nyop_add_buyer('\"{prov}\"')"),
    ("remove-buyer", "SELECT nyop_remove_buyer('\"{bob}\"')"),
    ("add-provider", "SELECT nyop_add_provider(CURRENT_USER::regrole)"),
    ("unwrap-null-message", "SELECT nyop._unwrap('{{\"error\": \"x\"}}')"),
    ("unwrap-bad-sqlstate", "SELECT nyop._unwrap('{{\"error\": {{\"sqlstate\": \"zzzzz\", \"message\": \"m\"}}}}')"),
    # server files, programs, other extensions and languages
    ("pg-read-file", "SELECT pg_read_file('/etc/passwd')"),
    ("pg-read-binary-file", "SELECT pg_read_binary_file('/etc/passwd')"),
    ("pg-ls-dir", "SELECT pg_ls_dir('.')"),
    ("lo-import", "SELECT lo_import('/etc/passwd')"),
    ("copy-to-program", "COPY (SELECT 1) TO PROGRAM 'id'"),
    ("copy-to-file", "COPY (SELECT 1) TO '/tmp/nyop-hostile'"),
    ("create-extension-dblink", "CREATE EXTENSION dblink"),
    ("dblink-call", "SELECT dblink('dbname=postgres', 'SELECT 1')"),
    ("untrusted-language", "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE plpython3u AS 'return 1'"),
    ("do-untrusted", "DO LANGUAGE plpython3u 'plpy.execute(\"DROP TABLE public.canary\")'"),
    ("leakproof-function", "CREATE FUNCTION pg_temp.f(jsonb) RETURNS bool LANGUAGE sql LEAKPROOF AS 'SELECT true'"),
    ("load-library", "LOAD 'plpython3'"),
    # objects: nothing of nyop's can be created, altered, dropped or re-granted
    ("create-in-nyop", "CREATE TABLE nyop.x (i int)"),
    ("create-in-views", "CREATE VIEW nyop_views.x AS SELECT 1"),
    ("republish-view-in-public", "CREATE VIEW public.x AS SELECT * FROM {alice_view}"),
    ("drop-own-view", "DROP VIEW {alice_view}"),
    ("drop-other-view", "DROP VIEW {bob_view}"),
    ("alter-own-view", "ALTER VIEW {alice_view} SET (security_barrier = false)"),
    ("comment-own-view", "COMMENT ON VIEW {alice_view} IS 'x'"),
    ("create-or-replace-own-view", "CREATE OR REPLACE VIEW {alice_view} AS SELECT 1"),
    ("alter-function", "ALTER FUNCTION nyop.clock() SECURITY DEFINER"),
    # market features that are the operator's or a provider's
    ("read-previews", "SELECT * FROM nyop.previews"),
    ("insert-preview", "INSERT INTO nyop.previews (offering) VALUES ('paper_a')"),
    ("publish-preview", "SELECT nyop_publish_preview('paper_a')"),
    ("unpublish-preview", "SELECT nyop_unpublish_preview('paper_a')"),
    ("audit", "SELECT nyop_audit('paper_a')"),
    ("set-commission", "SELECT nyop_set_commission(0)"),
    ("read-settings", "SELECT * FROM nyop.settings"),
    ("read-seller-analytics", "SELECT * FROM nyop.seller_analytics"),
    ("read-seller-weights", "SELECT * FROM nyop.seller_weights"),
    ("provides-forged", "INSERT INTO nyop.previews (offering, published_by) VALUES ('wb', '\"{prov}\"')"),
    ("replace-function", "CREATE OR REPLACE FUNCTION nyop.clock() RETURNS timestamptz LANGUAGE sql AS 'SELECT now()'"),
]

@pytest.mark.parametrize("sql", [pytest.param(s, id=i) for i, s in BUYER_REFUSED])
def test_buyer_is_refused(hostile, request, sql):
    name = request.node.callspec.id
    sql = sql.format(p=PREFS, **_others(hostile))
    conn = hostile.ca
    with pytest.raises(psycopg.Error) as e:
        if sql.startswith("COPY") and "FROM STDIN" in sql:
            with conn.cursor().copy(sql) as cp:
                cp.write_row(("paper_a", 1000, PREFS, hostile.bob))
        elif name == "lock-bids":
            with conn.transaction():
                conn.execute(sql)
        else:
            for stmt in sql.split("; "):
                conn.execute(stmt)
    assert_clean_refusal(e.value)


class notices:
    """Collect the notices a connection receives inside a with block."""

    def __init__(self, conn):
        self.conn, self.got = conn, []

    def _handler(self, d):
        # read the diagnostic now: it is not valid after the handler returns
        self.got.append((d.sqlstate, d.message_primary))

    def __enter__(self):
        self.conn.add_notice_handler(self._handler)
        return self.got

    def __exit__(self, *exc):
        self.conn.remove_notice_handler(self._handler)


def test_grants_by_a_buyer_grant_nothing(hostile):
    env = hostile
    with notices(env.ca) as got:
        env.ca.execute(f'GRANT SELECT ON {env.alice_view} TO "{env.bob}"')
        env.ca.execute(f'GRANT SELECT ON nyop.bids TO "{env.bob}"')
    assert [g[0] for g in got] == ["01007", "01007"]                # "no privileges were granted"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        env.cb.execute(f"SELECT * FROM {env.alice_view}")


def test_buyer_sees_only_its_own_bids(hostile):
    env = hostile
    rows = env.ca.execute("SELECT buyer::text, preferences::text FROM nyop.bids").fetchall()
    assert rows and {r[0] for r in rows} == {env.alice}
    assert not any(BOB_MARKER in r[1] for r in rows)
    assert one(env.ca, "SELECT count(*) FROM nyop.bids WHERE buyer <> current_user::regrole") == 0
    with env.ca.cursor().copy("COPY nyop.bids TO STDOUT") as cp:
        copied = b"".join(bytes(b) for b in cp)
    assert copied and env.bob.encode() not in copied and BOB_MARKER.encode() not in copied


def test_leaky_function_sees_only_own_bids(hostile):
    """A cheap temp function in WHERE must not see other buyers' rows before RLS filters them."""
    env = hostile
    env.ca.execute("CREATE FUNCTION pg_temp.leak(b jsonb, r regrole) RETURNS bool LANGUAGE plpgsql COST 0.0000001 AS "
                   "$$BEGIN RAISE NOTICE 'leak % %', r, b; RETURN true; END$$")
    with notices(env.ca) as got:
        env.ca.execute("SELECT * FROM nyop.bids WHERE pg_temp.leak(preferences, buyer)").fetchall()
        env.ca.execute("SELECT * FROM nyop.bids WHERE pg_temp.leak(preferences, buyer) AND bid_id > 0 "
                       "ORDER BY bid_id").fetchall()
    seen = [g[1] for g in got]
    assert seen and not any(BOB_MARKER in s or env.bob in s for s in seen)


def test_leaky_function_on_own_view_sees_only_delivered_cells(hostile):
    """Masked cells of the buyer's own view stay masked for a function in WHERE."""
    env = hostile
    delivered = {str(r[0]) for r in env.ca.execute(f"SELECT b FROM {env.alice_big}").fetchall() if r[0] is not None}
    masked = one(env.ca, f"SELECT count(*) FROM {env.alice_big} WHERE b IS NULL")
    env.ca.execute("CREATE FUNCTION pg_temp.peek(t text) RETURNS bool LANGUAGE plpgsql COST 0.0000001 AS "
                   "$$BEGIN RAISE NOTICE 'peek=%', coalesce(t, '-'); RETURN true; END$$")
    with notices(env.ca) as got:
        env.ca.execute(f"SELECT * FROM {env.alice_big} v WHERE pg_temp.peek(v.b::text)").fetchall()
    seen = {g[1][len("peek="):] for g in got}
    assert masked > 0 and seen - {"-"} <= delivered, seen - delivered


def test_temp_objects_do_not_shadow_nyop(hostile):
    """pg_temp comes last in every function's search_path: a buyer's temp tables change nothing."""
    env = hostile
    baseline = one(env.ca, f"SELECT nyop_quote('paper_a', 1000, '{PREFS}')")
    for t in ("offerings", "criteria", "bids", "buyers", "mask_seeds", "purchases", "offering_secrets", "pg_roles",
              "histories"):
        env.ca.execute(f"CREATE TEMP TABLE {t} (name text, x int)")
    env.ca.execute("CREATE FUNCTION pg_temp.hashint8extended(bigint, bigint) RETURNS bigint LANGUAGE sql "
                   "AS 'SELECT 0::bigint'")
    env.ca.execute("CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT 'infinity'::timestamptz$$")
    env.ca.execute("SET search_path = pg_temp, public")
    q = one(env.ca, f"SELECT nyop_quote('paper_a', 1000, '{PREFS}')")
    assert q == baseline
    with env.ca.transaction(force_rollback=True):
        bid_id, status, view = env.ca.execute(
            f"INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, '{PREFS}') "
            "RETURNING bid_id, status, view::text").fetchone()
        assert status == "accepted"
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):    # not paid until committed
            env.ca.execute(f"SELECT * FROM {view}").fetchall()


@pytest.mark.parametrize("setting", [
    "DateStyle = 'SQL, DMY'", "TimeZone = 'Pacific/Kiritimati'", "extra_float_digits = -15",
    "standard_conforming_strings = off", "search_path = pg_temp", "IntervalStyle = 'iso_8601'",
    "lc_monetary = 'C'", "bytea_output = 'escape'",
])
def test_masks_stable_under_session_settings(hostile, setting):
    """Re-query stability: the same cells are delivered whatever the reader's session settings."""
    env = hostile
    sql = f"SELECT id, a, b, c, d FROM {env.alice_big} ORDER BY id"
    base = env.ca.execute(sql, binary=True).fetchall()       # binary: exact values whatever the text settings
    env.ca.execute(f"SET {setting}")
    again = env.ca.execute(sql, binary=True).fetchall()
    assert again == base
    assert any(None in r[1:] for r in base)                  # the view really is masked


def test_backslash_scope_refused_without_standard_strings(hostile):
    hostile.ca.execute("SET standard_conforming_strings = off")
    with pytest.raises(psycopg.Error) as e:
        hostile.ca.execute(f"SELECT nyop_quote('paper_a', 1000, '{PREFS}', scope => %s)",
                           ("station = 'x\\' OR true OR station = '",))
    assert_clean_refusal(e.value)


def test_masks_nest_for_colluding_buyers(hostile):
    """Alice (bid 500) and bob (bid 300) merging their copies get no cell alice does not have."""
    env = hostile
    a = {r[0]: r for r in env.ca.execute(f"SELECT id, a, b, c, d FROM {env.alice_big}").fetchall()}
    b = {r[0]: r for r in env.cb.execute(f"SELECT id, a, b, c, d FROM {env.bob_big}").fetchall()}
    assert a.keys() == b.keys()
    kept_a = {(k, i) for k, r in a.items() for i, v in enumerate(r) if v is not None}
    kept_b = {(k, i) for k, r in b.items() for i, v in enumerate(r) if v is not None}
    assert kept_b <= kept_a and kept_b != kept_a
    for k, i in kept_b:
        assert a[k][i] == b[k][i]


# --------------------------------------------------------------------------------------
# secrets, thresholds and other buyers' purchases through the catalogs
# --------------------------------------------------------------------------------------

CATALOG_READS = [
    ("pg_views", "SELECT string_agg(definition, ' ') FROM pg_views"),
    ("pg_matviews", "SELECT string_agg(definition, ' ') FROM pg_matviews"),
    ("pg_rules", "SELECT string_agg(definition, ' ') FROM pg_rules"),
    ("pg_get_viewdef", "SELECT string_agg(pg_get_viewdef(c.oid), ' ') FROM pg_class c WHERE c.relkind = 'v'"),
    ("information_schema.views", "SELECT string_agg(view_definition, ' ') FROM information_schema.views"),
    ("pg_proc.prosrc", "SELECT string_agg(prosrc, ' ') FROM pg_proc"),
    ("pg_get_functiondef", "SELECT string_agg(pg_get_functiondef(p.oid), ' ') FROM pg_proc p "
                           "JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname IN ('nyop', 'public') "
                           "WHERE p.prokind = 'f'"),
    ("information_schema.routines", "SELECT string_agg(routine_definition, ' ') FROM information_schema.routines"),
    ("pg_description", "SELECT string_agg(description, ' ') FROM pg_description"),
    ("pg_stats", "SELECT string_agg(s::text, ' ') FROM pg_stats s"),
    ("pg_stats_ext", "SELECT string_agg(s::text, ' ') FROM pg_stats_ext s"),
    ("pg_settings", "SELECT string_agg(name || '=' || coalesce(setting, ''), ' ') FROM pg_settings"),
    ("pg_trigger.tgargs", "SELECT string_agg(encode(tgargs, 'escape'), ' ') FROM pg_trigger"),
    ("pg_attrdef", "SELECT string_agg(pg_get_expr(adbin, adrelid), ' ') FROM pg_attrdef"),
    ("pg_constraint", "SELECT string_agg(pg_get_constraintdef(oid), ' ') FROM pg_constraint"),
    ("pg_policy", "SELECT string_agg(pg_get_expr(polqual, polrelid), ' ') FROM pg_policy"),
    ("pg_class.reloptions", "SELECT string_agg(array_to_string(reloptions, ','), ' ') FROM pg_class"),
    ("pg_stat_activity", "SELECT string_agg(coalesce(query, ''), ' ') FROM pg_stat_activity"),
    ("pg_db_role_setting", "SELECT string_agg(array_to_string(setconfig, ','), ' ') FROM pg_db_role_setting"),
]


@pytest.mark.parametrize("sql", [pytest.param(s, id=i) for i, s in CATALOG_READS])
def test_catalogs_hide_secrets_and_other_buyers(hostile, sql):
    """No secret, seed or threshold, and nothing of bob's preferences or queries, is readable by alice."""
    env = hostile
    text = one(env.ca, sql) or ""
    for s in env.secrets:
        assert s not in text
    for v in env.seeds + env.thresholds:
        assert v not in text
    assert BOB_MARKER not in text and BOB_QUERY_MARKER not in text


def test_pg_stats_shows_nothing_of_nyop_or_base_tables(hostile):
    rows = hostile.ca.execute("SELECT schemaname, tablename, attname FROM pg_stats "
                              "WHERE schemaname IN ('nyop', 'nyop_views', 'public')").fetchall()
    assert rows == []
    assert one(hostile.op, "SELECT count(*) FROM pg_stats WHERE schemaname = 'nyop'") > 0     # they exist


def test_huge_finite_weights_break_no_provider_view(hostile):
    """Weights near the float limit are valid (they are normalised); a bid with them must not make the
    providers' analytics fail for everyone."""
    env = hostile
    prefs = '{"completeness": 1e308, "amount_of_data": 1e308, "customer_support": 1e308}'
    bid_id, status = env.ca.execute("INSERT INTO nyop.bids (offering, bid, preferences) "
                                    "VALUES ('wb', 1000, %s) RETURNING bid_id, status", (prefs,)).fetchone()
    try:
        assert status == "accepted"
        for view in ("nyop.seller_weights", "nyop.seller_analytics", "nyop.provider_bids"):
            env.cp.execute(f"SELECT * FROM {view}").fetchall()
    finally:
        env.undo_bid(bid_id)


def test_other_buyers_purchase_comment_carries_no_terms(hostile):
    """Every role can read pg_description and view definitions: a view's COMMENT, its columns'
    comments and its definition carry nothing of the purchase's figures (price, levels, delay) or
    of the buyer's weights (SPEC: those show in nyop.my_purchases only)."""
    env = hostile
    comment = one(env.ca, "SELECT obj_description(%s::regclass, 'pg_class')", (env.bob_view,)) or ""
    assert comment.startswith("nyop purchase")
    text = comment + one(env.ca, "SELECT pg_get_viewdef(%s::regclass)", (env.bob_view,)) + (one(
        env.ca, "SELECT string_agg(col_description(attrelid, attnum), ' ') FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0", (env.bob_view,)) or "")
    for word in ("price", "level", "preferences", "make_interval", "completeness_target"):
        assert word not in text, word


# --------------------------------------------------------------------------------------
# attacks that need their own database
# --------------------------------------------------------------------------------------

def test_buyer_cannot_move_the_clock_forward_past_its_delay(db, buyer):
    """`SET nyop.now` is for back-testing: a buyer setting it to the future must not see data it has not paid for."""
    db.execute("CREATE TABLE fresh (id int PRIMARY KEY, v int, lu timestamptz NOT NULL)")
    db.execute("INSERT INTO fresh SELECT i, i, now() FROM generate_series(1, 20) i")
    db.execute("SELECT nyop_register_offering('fresh', 'fresh', 1000, ARRAY['id'], last_updated => 'lu', "
               "volatility => '1 hour')")
    db.execute("SELECT nyop_set_criterion('fresh', 'timeliness', 1)")
    _, conn = buyer()
    _, status, quote, view = conn.execute(
        "INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('fresh', 500, '{\"timeliness\": 1}') "
        "RETURNING bid_id, status, quote, view::text").fetchone()
    assert status == "accepted" and quote["delay_seconds"] > 600           # paid for a delay of > 10 min
    assert one(conn, f"SELECT count(*) FROM {view}") == 0                   # every row is fresher than that
    conn.execute("SET nyop.now = 'infinity'")
    assert one(conn, f"SELECT count(*) FROM {view}") == 0
    conn.execute("SELECT set_config('nyop.now', (now() + interval '1 day')::text, false)")
    assert one(conn, f"SELECT count(*) FROM {view}") == 0


def _provider_setup(db, make_role):
    prov, dsn = make_role("provider")
    db.execute(f'CREATE SCHEMA p AUTHORIZATION "{prov}"')
    db.execute(f"SELECT nyop_add_provider('\"{prov}\"')")
    cp = psycopg.connect(dsn, autocommit=True)
    cp.execute("CREATE TABLE p.log (who text, super bool)")
    cp.execute("GRANT USAGE ON SCHEMA p TO PUBLIC; GRANT INSERT ON p.log TO PUBLIC")
    cp.execute("CREATE FUNCTION p.note() RETURNS void LANGUAGE sql AS "
               "$$INSERT INTO p.log SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user$$")
    return prov, cp


def _as_superuser(db):
    return db.execute("SELECT DISTINCT who FROM p.log WHERE super ORDER BY 1").fetchall()


def _try(conn, sql):
    """Run one step of a provider attack: a clean refusal is a fine outcome too."""
    try:
        conn.execute(sql)
        return True
    except psycopg.Error as e:
        assert_clean_refusal(e)
        return False


def test_provider_view_code_never_runs_as_superuser(db, buyer, make_role):
    """A provider's view may call the provider's functions: quotes and bids must not run them as superuser
    (a provider could make itself superuser that way), nor may a buyer reading its view run them with the
    buyer's rights (they could read the buyer's own bids: weights, columns, scope)."""
    prov, cp = _provider_setup(db, make_role)
    with cp:
        cp.execute("CREATE TABLE p.t (id int PRIMARY KEY, v int); INSERT INTO p.t VALUES (1, 1), (2, NULL), (3, 3)")
        cp.execute("CREATE FUNCTION p.f() RETURNS int LANGUAGE plpgsql AS $$BEGIN PERFORM p.note(); RETURN 1; END$$")
        cp.execute("CREATE VIEW p.v AS SELECT id, v, p.f() AS x FROM p.t")
        if _try(db, "SELECT nyop_register_offering('pv', 'p.v', 100, ARRAY['id'])"):
            db.execute("SELECT nyop_set_criterion('pv', 'completeness', 1)")
            db.execute("TRUNCATE p.log")
            _, conn = buyer()
            _try(conn, "SELECT nyop_quality('pv')")
            _try(conn, """SELECT nyop_quote('pv', 60, '{"completeness": 1}')""")
            if _try(conn, """INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('pv', 60, '{"completeness": 1}')"""):
                view = one(conn, "SELECT view::text FROM nyop.bids WHERE view IS NOT NULL")
                if view:
                    _try(conn, f"SELECT * FROM {view}")
        assert _as_superuser(db) == []
        assert not one(db, "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (prov,))
        ran_as = {r[0] for r in db.execute("SELECT DISTINCT who FROM p.log")}
        assert ran_as <= {prov}, "the provider's code ran as %s" % ran_as


def test_provider_type_cast_never_runs_as_superuser(db, buyer, make_role):
    """A provider's own type with its own cast to text, as the key of a plain table: bids must not run
    the provider's cast function as superuser."""
    prov, cp = _provider_setup(db, make_role)
    with cp:
        cp.execute("CREATE TYPE p.st AS ENUM ('a', 'b', 'c')")
        cp.execute("CREATE FUNCTION p.st_text(p.st) RETURNS text LANGUAGE plpgsql AS "
                   "$$BEGIN PERFORM p.note(); RETURN $1::name::text; END$$")
        cp.execute("CREATE CAST (p.st AS text) WITH FUNCTION p.st_text(p.st)")
        cp.execute("CREATE TABLE p.t (k p.st PRIMARY KEY, v int, w int); "
                   "INSERT INTO p.t VALUES ('a', 1, NULL), ('b', NULL, 2), ('c', 3, 3)")
        if _try(db, "SELECT nyop_register_offering('pt', 'p.t', 100, ARRAY['k'])"):
            db.execute("SELECT nyop_set_criterion('pt', 'completeness', 1)")
            db.execute("TRUNCATE p.log")
            _, conn = buyer()
            _try(conn, """INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('pt', 60, '{"completeness": 1}')""")
        assert _as_superuser(db) == []


@pytest.mark.parametrize("label", ["Airline", 'x"; DROP TABLE canary; --', "o'brien"])
def test_buyer_role_names_needing_quotes(server, dbname, paper_db, label):
    """A role whose name needs quoting is added as a buyer: it bids as itself and reads its view — no injection."""
    db = paper_db
    name = f"{label} {uuid.uuid4().hex[:6]}"
    quoted = '"' + name.replace('"', '""') + '"'
    db.execute("CREATE TABLE canary (id int)")
    db.execute(f"CREATE ROLE {quoted} LOGIN PASSWORD 'nyop-test'")
    try:
        db.execute("SELECT nyop_add_buyer(%s::regrole)", (quoted,))
        with psycopg.connect(login_dsn(server, dbname, name), autocommit=True) as conn:
            conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
            try:
                bid_id, who, status, view = conn.execute(
                    f"INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, '{PREFS}') "
                    "RETURNING bid_id, buyer::text, status, view::text").fetchone()
            except psycopg.Error as e:
                assert_clean_refusal(e)
                raise
            assert status == "accepted" and who == quoted
            conn.execute("SET nyop.now = '2017-05-08 02:00+00'")
            assert len(conn.execute(f"SELECT * FROM {view}").fetchall()) == 6
            assert one(conn, "SELECT count(*) FROM nyop.bids") == 1
    finally:
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
        db.execute(f"DROP OWNED BY {quoted} CASCADE")
        db.execute(f"DROP ROLE {quoted}")
    assert one(db, "SELECT to_regclass('canary') IS NOT NULL")


def test_hostile_identifiers_in_the_providers_relation(db, buyer):
    """Table and column names full of quotes, comments and dollars are quoted wherever nyop writes SQL."""
    db.execute("CREATE TABLE canary (id int)")
    db.execute('''CREATE TABLE "we""ird; DROP TABLE canary; --" (
                      "st""ation" text, "d'ate" date, "t$$emp -- x" int, "/* h */" int, "a,b" int, "lu; --" timestamptz NOT NULL,
                      PRIMARY KEY ("st""ation", "d'ate"))''')
    db.execute('''INSERT INTO "we""ird; DROP TABLE canary; --"
                  SELECT s, d::date, CASE WHEN i % 3 = 0 THEN NULL ELSE i END, i * 2, i, '2017-05-07 12:00+00'
                  FROM generate_series(1, 30) i, (VALUES ('FRA'), ('LHR')) st(s),
                       LATERAL (SELECT '2017-05-01'::date + i AS d) dd''')
    db.execute('''SELECT nyop_register_offering('weird', '"we""ird; DROP TABLE canary; --"', 1000,
                      ARRAY['st"ation', 'd''ate'], last_updated => 'lu; --', volatility => '24 hours')''')
    db.execute("SELECT nyop_set_criterion('weird', 'completeness', 0.5)")
    db.execute("SELECT nyop_set_criterion('weird', 'timeliness', 0.5)")
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    status, quote, view = conn.execute(
        "INSERT INTO nyop.bids (offering, bid, preferences, columns, scope) VALUES ('weird', 700, "
        "'{\"completeness\": 0.7, \"timeliness\": 0.3}', ARRAY['t$$emp -- x'], %s) RETURNING status, quote, view::text",
        ('"st""ation" = \'FRA\' AND "d\'ate" IS NOT NULL OR "lu; --" > \'2017-05-01\'',)).fetchone()
    assert status == "accepted", quote
    assert quote["columns"][0] == "t$$emp -- x"
    conn.execute("SET nyop.now = '2017-05-09 00:00+00'")
    cur = conn.execute(f"SELECT * FROM {view}")
    rows = cur.fetchall()
    assert [d.name for d in cur.description][0] == "t$$emp -- x" and rows
    db.execute("UPDATE \"we\"\"ird; DROP TABLE canary; --\" SET \"lu; --\" = '2017-05-08 00:00+00' "
               "WHERE \"st\"\"ation\" = 'FRA'")
    db.execute("DELETE FROM \"we\"\"ird; DROP TABLE canary; --\" WHERE \"st\"\"ation\" = 'LHR' AND \"a,b\" < 5")
    history = one(db, "SELECT history::text FROM nyop.histories")
    assert one(db, f"SELECT count(*) FROM {history}") == 30 + 4       # every FRA row updated, four LHR rows deleted
    assert one(db, "SELECT to_regclass('canary') IS NOT NULL")


def test_long_offering_names_get_distinct_views(db, buyer):
    """A 63-character offering name is valid: two buyers must still get two views."""
    paper.load(db, single=False, group=False)
    name = "o" * 63
    db.execute(f"SELECT nyop_register_offering('{name}', 'weather_b', 100, ARRAY['station', 'date'])")
    db.execute(f"SELECT nyop_set_criterion('{name}', 'completeness', 1)")
    views = set()
    for label in ("first", "second"):
        _, conn = buyer(label)
        status, view = conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) "
                                    f"VALUES ('{name}', 150, '{{\"completeness\": 1}}') RETURNING status, view::text"
                                    ).fetchone()
        assert status == "accepted"
        views.add(view)
    assert len(views) == 2


def test_seller_weights_resist_differencing(paper_db, buyer, make_role):
    """seller_weights promises that no single buyer's weights can be read (groups of at least 5).
    A provider who reads it before and after a sixth buyer's bid must not recover that buyer's
    weights: a day is shown only once it is over, so there is no "before" to subtract."""
    db = paper_db
    prov, dsn = make_role("provider")
    db.execute(f'ALTER TABLE weather_a OWNER TO "{prov}"')
    db.execute("SELECT nyop_register_offering('paper_a', 'weather_a', 1200, ARRAY['station', 'date'], "
               "last_updated => 'lastupdated', volatility => '24 hours')")
    db.execute(paper.SINGLE_SQL.split(";", 1)[1])            # the criteria again (re-registering dropped them)
    db.execute(f"SELECT nyop_add_provider('\"{prov}\"')")
    weights = [0.2, 0.3, 0.4, 0.5, 0.6, 0.137]
    with psycopg.connect(dsn, autocommit=True) as cp:
        def mean():
            return cp.execute("SELECT buyers, mean_weight FROM nyop.seller_weights "
                              "WHERE offering = 'paper_a' AND criterion = 'timeliness'").fetchone()
        seen = []
        for i, w in enumerate(weights):
            _, conn = buyer(f"b{i}")
            prefs = json.dumps({"timeliness": w, "amount_of_data": 1 - w})
            conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
            conn.execute("INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 5, %s)", (prefs,))
            seen.append(mean())
    assert seen == [None] * len(weights)           # the open day shows nothing, whatever the count
    # once the day is over it shows the day's aggregate, which no later bid changes
    db.execute("ALTER TABLE nyop.bids DISABLE TRIGGER bids_immutable; "
               "UPDATE nyop.bids SET placed_at = placed_at - interval '1 day'; "
               "ALTER TABLE nyop.bids ENABLE TRIGGER bids_immutable")
    with psycopg.connect(dsn, autocommit=True) as cp:
        buyers, mean_weight = cp.execute("SELECT buyers, mean_weight FROM nyop.seller_weights "
                                         "WHERE offering = 'paper_a' AND criterion = 'timeliness'").fetchone()
    assert buyers == 6 and mean_weight == pytest.approx(sum(weights) / 6, abs=1e-6)


def test_provider_cannot_drop_buyers_views_by_setting_a_guc(paper_db, buyer, make_role):
    """The drop guard keeps a provider from dropping its sold table (and, by CASCADE, the buyers' views):
    a setting any session can change must not switch the guard off."""
    db = paper_db
    prov, dsn = make_role("provider")
    db.execute(f'ALTER TABLE weather_b OWNER TO "{prov}"')
    _, conn = buyer()
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    view = one(conn, f"INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('wb', 1200, '{GROUP_PREFS}') "
                     "RETURNING view::text")
    assert view
    with psycopg.connect(dsn, autocommit=True) as cp:
        with pytest.raises(psycopg.Error) as e:
            cp.execute("DROP TABLE weather_b CASCADE")
        assert_clean_refusal(e.value, ("55006",))
        cp.execute("SET nyop.dropping = on")
        with pytest.raises(psycopg.Error) as e:
            cp.execute("DROP TABLE weather_b CASCADE")
        assert_clean_refusal(e.value, ("55006",))
    assert one(db, "SELECT to_regclass(%s) IS NOT NULL", (view,))
    assert len(conn.execute(f"SELECT * FROM {view}").fetchall()) == 6


def test_removed_buyer_loses_everything(paper_db, buyer):
    name, conn = buyer()
    conn.execute(f"SET nyop.now = '{paper.PAPER_NOW}'")
    view = one(conn, f"INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, '{PREFS}') "
                     "RETURNING view::text")
    paper_db.execute(f"SELECT nyop_remove_buyer('\"{name}\"')")
    for sql in (f"SELECT * FROM {view}", "SELECT * FROM nyop.bids",
                f"SELECT nyop_quote('paper_a', 1000, '{PREFS}')",
                f"INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('paper_a', 1000, '{PREFS}')"):
        with pytest.raises(psycopg.Error) as e:
            conn.execute(sql)
        assert_clean_refusal(e.value)
    assert one(paper_db, "SELECT count(*) FROM nyop.bids") == 1             # its bid is kept


PROVIDER_REFUSED = [
    ("preview-of-others-offering", "INSERT INTO nyop.previews (offering) VALUES ('paper_a')"),
    ("preview-forged-publisher", "INSERT INTO nyop.previews (offering, published_by) VALUES ('wb', 'postgres')"),
    ("preview-forged-view", "INSERT INTO nyop.previews (offering, view) VALUES ('wb', '{bob_view}')"),
    ("preview-forged-threshold", "INSERT INTO nyop.previews (offering, threshold) VALUES ('wb', 9223372036854775807)"),
    ("publish-others-preview", "SELECT nyop_publish_preview('paper_a')"),
    ("unpublish-others-preview", "SELECT nyop_unpublish_preview('paper_a')"),
    ("update-previews", "UPDATE nyop.previews SET threshold = 0"),
    ("read-preferences", "SELECT preferences FROM nyop.bids"),
    ("read-secrets", "SELECT * FROM nyop.offering_secrets"),
    ("read-buyer-view", "SELECT * FROM {bob_view}"),
    ("read-history", "SELECT * FROM {history}"),
    ("quote", "SELECT nyop_quote('wb', 1000, '{gp}')"),
    ("read-purchases", "SELECT * FROM nyop.purchases"),
    ("set-role-buyer", 'SET ROLE "{bob}"'),
    ("register-offering", "SELECT nyop_register_offering('x', 'weather_b', 1, ARRAY['station'])"),
    ("set-criterion", "SELECT nyop_set_criterion('wb', 'completeness', 100)"),
    ("add-buyer", "SELECT nyop_add_buyer(CURRENT_USER::regrole)"),
    ("set-commission", "SELECT nyop_set_commission(0)"),
    ("history-table-drop", "DROP TABLE {history}"),
]


@pytest.mark.parametrize("sql", [pytest.param(s, id=i) for i, s in PROVIDER_REFUSED])
def test_provider_is_refused(hostile, sql):
    with pytest.raises(psycopg.Error) as e:
        hostile.cp.execute(sql.format(gp=GROUP_PREFS, **_others(hostile)))
    assert_clean_refusal(e.value)


def test_provider_sees_its_bids_only_and_no_buyer_secrets(hostile):
    env = hostile
    got = env.cp.execute("SELECT offering, buyer::text FROM nyop.provider_bids").fetchall()
    assert {r[0] for r in got} <= {"wb"}                     # prov provides wb only; bob and alice bought paper_a/big
    for sql in ("SELECT preferences FROM nyop.bids", "SELECT * FROM nyop.offering_secrets",
                f"SELECT * FROM {env.bob_view}", f"SELECT nyop_quote('wb', 1000, '{GROUP_PREFS}')",
                "SELECT * FROM nyop.purchases", f'SET ROLE "{env.bob}"'):
        with pytest.raises(psycopg.Error) as e:
            env.cp.execute(sql)
        assert_clean_refusal(e.value)
