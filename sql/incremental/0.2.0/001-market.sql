-- 0.2.0: market features -- operator commission, upgrades of purchases, free previews.

-- Operator settings (commission_rate, …): one jsonb value per key; a missing key means
-- its default (no default rows: pg_dump restores exactly what the operator set).
CREATE TABLE nyop.settings (
    key   text PRIMARY KEY,
    value jsonb NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('nyop.settings', '');

-- Each accepted bid records who gets what.
ALTER TABLE nyop.bids ADD COLUMN provider_share numeric, ADD COLUMN operator_share numeric;

-- An upgrade replaces a purchase's view in place; the purchase it replaces is kept, superseded.
ALTER TABLE nyop.purchases ADD COLUMN superseded_by bigint REFERENCES nyop.bids DEFERRABLE INITIALLY DEFERRED;
CREATE UNIQUE INDEX purchases_current_view ON nyop.purchases (view) WHERE superseded_by IS NULL;

-- Free previews: the lowest version of an offering, readable by every buyer.
CREATE TABLE nyop.previews (
    offering  text PRIMARY KEY REFERENCES nyop.offerings ON DELETE CASCADE ON UPDATE CASCADE,
    view      regclass NOT NULL,
    threshold bigint,
    quote     jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('nyop.previews', '');
