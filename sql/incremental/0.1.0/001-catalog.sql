-- Catalog: offerings, their criteria, and the bids placed on them.
-- Nothing here is readable by PUBLIC; access is granted case by case (020_roles.sql).

CREATE SCHEMA nyop;
COMMENT ON SCHEMA nyop IS 'nyop: Name-Your-Own-Price pricing of relational data (catalog and internals)';
REVOKE ALL ON SCHEMA nyop FROM PUBLIC;

-- A provider's offering: a relation (typically its universal relation) sold by quality.
CREATE TABLE nyop.offerings (
    name             text PRIMARY KEY
                     CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$'),
    relation         regclass NOT NULL,
    provider         regrole NOT NULL,
    ask_price        numeric NOT NULL CHECK (ask_price > 0 AND ask_price < 'Infinity'),
    reserve_price    numeric NOT NULL CHECK (reserve_price > 0 AND reserve_price <= ask_price),
    key_columns      text[] NOT NULL CHECK (cardinality(key_columns) >= 1),
    columns          text[] NOT NULL,           -- X_u in the provider's order, at registration
    last_updated     text,
    volatility       interval CHECK (volatility > interval '0'),
    comparison_group text CHECK (comparison_group ~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$'),
    utility          text NOT NULL DEFAULT 'sqrt',
    levels           int NOT NULL DEFAULT 10 CHECK (levels BETWEEN 1 AND 1000),
    registered_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((last_updated IS NULL) = (volatility IS NULL))
);
COMMENT ON TABLE nyop.offerings IS 'Offerings: a relation sold by quality at a public ask price (reserve hidden)';

-- Per-offering secret for the keyed-hash null masks. Never readable by buyers or providers.
CREATE TABLE nyop.offering_secrets (
    offering text PRIMARY KEY REFERENCES nyop.offerings ON DELETE CASCADE ON UPDATE CASCADE,
    secret   text NOT NULL DEFAULT md5(gen_random_uuid()::text || clock_timestamp()::text)
);

-- The quality criteria an offering is priced on, in the order they were set.
CREATE TABLE nyop.criteria (
    offering        text NOT NULL REFERENCES nyop.offerings ON DELETE CASCADE ON UPDATE CASCADE,
    criterion       text NOT NULL CHECK (criterion ~ '^[a-z_][a-z0-9_]{0,62}$'),
    provider_weight numeric NOT NULL CHECK (provider_weight >= 0 AND provider_weight < 'Infinity'),
    tiers           text[],
    pricing         text NOT NULL DEFAULT 'score' CHECK (pricing IN ('score', 'utility')),
    threshold       numeric NOT NULL DEFAULT 0 CHECK (threshold >= 0 AND threshold < 1),
    min_level       int NOT NULL DEFAULT 1 CHECK (min_level >= 0),
    ordinal         bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (offering, criterion)
);
COMMENT ON TABLE nyop.criteria IS 'Quality criteria of an offering: measured (completeness, timeliness, amount_of_data) or contractual (tiers)';
