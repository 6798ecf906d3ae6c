-- 0.3.0: maintained measures (issue 12). Per sold plain table, what its measures need --
-- rows, non-null cells per counted column, how many rows carry each last-updated value and
-- per-time-bucket counts and sums of them -- kept up to date by statement-level triggers
-- (sql/idempotent/055-summaries.sql) instead of a scan per quote or bid.
--
-- Writers only append to nyop.measure_deltas (one row per statement, in their own transaction:
-- no row every writer updates); nyop folds the deltas into the other tables lazily. Nothing
-- but the list of summarised tables is dumped: a restored database re-seeds each summary with
-- one scan on first use.

-- The folded state of one relation. "columns" are the counted columns (every sold column but
-- the last-updated one), in the order of "nonnull". Last-updated values are kept in integer
-- microseconds since 1970: a timestamptz as its epoch, a date or timestamp read as UTC (as
-- measures and delays read them, whatever the reader's TimeZone); 'infinity' and '-infinity'
-- as the largest and smallest int8.
CREATE TABLE nyop.measure_state (
    relation     regclass PRIMARY KEY,
    columns      text[] NOT NULL,
    last_updated text,
    shift        int NOT NULL,          -- level-0 time buckets are 2^shift microseconds wide
    levels       int NOT NULL,          -- level l buckets are 2^(shift + 6 l) wide
    rows         int8 NOT NULL DEFAULT 0,
    nonnull      int8[] NOT NULL,
    stale        boolean NOT NULL DEFAULT false,  -- the table was rewritten: re-seeded on next use
    seeded_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE nyop.measure_state IS 'Maintained measures of sold tables: rows and non-null cells per column (folded)';
-- pg_dump keeps which tables are summarised, and how (a restored row is stale: re-seeded on first
-- use, see nyop._measure_restored); the counts themselves are not worth keeping.
SELECT pg_catalog.pg_extension_config_dump('nyop.measure_state', '');

-- What one statement changed (signed), or a TRUNCATE (reset: every earlier delta, and the folded
-- state, is void). Ids order a reset against the deltas around it: a TRUNCATE waits for every
-- writer of its table, and writers after it wait for it.
CREATE TABLE nyop.measure_deltas (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relation oid NOT NULL,
    reset    boolean NOT NULL DEFAULT false,
    rows     int8 NOT NULL DEFAULT 0,
    nonnull  int8[],
    lus      int8[],      -- last-updated values (microseconds, see above) ...
    cnts     int8[]       -- ... and how many rows with that value came (+) or went (-)
);
CREATE INDEX measure_deltas_relation ON nyop.measure_deltas (relation, id);
COMMENT ON TABLE nyop.measure_deltas IS 'Changes to maintained measures not folded yet (one row per statement)';

-- Table owners append deltas through their tables' triggers (functions they own, as history
-- capture): for their own tables only.
ALTER TABLE nyop.measure_deltas ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_appends ON nyop.measure_deltas FOR INSERT
    WITH CHECK (EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                        WHERE c.oid = relation AND pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')));

-- How many rows carry each last-updated value (folded), per level-0 time bucket (b = us >> shift):
-- sorted values and their counts, so that a fold rewrites only the buckets it touches.
CREATE TABLE nyop.measure_values (
    relation oid NOT NULL,
    b        int8 NOT NULL,
    us       int8[] NOT NULL,
    c        int8[] NOT NULL,
    PRIMARY KEY (relation, b)
);

-- Rows and the sum of their last-updated values per time bucket, at several widths (timestamptz
-- only): any range is a few dozen buckets per level, so timeliness reads a bounded number of rows.
CREATE TABLE nyop.measure_buckets (
    relation oid NOT NULL,
    lvl      int2 NOT NULL,
    b        int8 NOT NULL,
    cnt      int8 NOT NULL,
    s        numeric NOT NULL,
    PRIMARY KEY (relation, lvl, b)
);
