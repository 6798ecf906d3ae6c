-- Delivery: history capture on base tables, bids with their trigger, purchases
-- (the buyer's tailored views), buyer roles and who sees what.

CREATE SCHEMA nyop_views;
COMMENT ON SCHEMA nyop_views IS 'nyop: buyers'' tailored views, one per accepted bid, readable by that buyer only';
REVOKE ALL ON SCHEMA nyop_views FROM PUBLIC;

-- Which base tables keep history, keyed how. Several offerings may share one.
CREATE TABLE nyop.histories (
    relation     regclass PRIMARY KEY,
    history      regclass NOT NULL,
    key_columns  text[] NOT NULL,
    last_updated text NOT NULL
);

-- Per-offering, per-column seeds of the cell masks, derived from the offering's secret.
CREATE TABLE nyop.mask_seeds (
    offering    text NOT NULL REFERENCES nyop.offerings ON DELETE CASCADE ON UPDATE CASCADE,
    column_name text NOT NULL,
    seed        bigint NOT NULL,
    PRIMARY KEY (offering, column_name)
);

CREATE TABLE nyop.bids (
    bid_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    offering    text NOT NULL,                 -- an offering or a comparison group
    buyer       regrole NOT NULL DEFAULT current_user::regrole,
    bid         numeric NOT NULL,
    preferences jsonb NOT NULL,
    columns     text[],
    scope       text,
    solver      text NOT NULL DEFAULT 'exact',
    status      text CHECK (status IN ('accepted', 'rejected')),
    quote       jsonb,
    view        regclass,
    sold        text,                          -- the offering sold (a member, for a group)
    placed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON nyop.bids (buyer);
CREATE INDEX ON nyop.bids (sold);
COMMENT ON TABLE nyop.bids IS 'Bids: INSERT one to buy; a trigger prices it and, if accepted, creates your tailored view';

-- What an accepted bid bought: its view and the mask threshold chosen at purchase time.
CREATE TABLE nyop.purchases (
    bid_id       bigint PRIMARY KEY REFERENCES nyop.bids ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    offering     text NOT NULL REFERENCES nyop.offerings ON UPDATE CASCADE,
    buyer        regrole NOT NULL,
    view         regclass NOT NULL,
    threshold    bigint,                       -- keep a cell iff its hash <= threshold
    completeness float8,                       -- delivered at purchase time
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Registered buyers.
CREATE TABLE nyop.buyers (
    buyer    regrole PRIMARY KEY,
    added_at timestamptz NOT NULL DEFAULT now()
);

-- Row-level security: a buyer sees and places only its own bids.
ALTER TABLE nyop.bids ENABLE ROW LEVEL SECURITY;
CREATE POLICY buyer_reads_own ON nyop.bids FOR SELECT USING (buyer = current_user::regrole);
CREATE POLICY buyer_bids_as_itself ON nyop.bids FOR INSERT WITH CHECK (buyer = current_user::regrole);
