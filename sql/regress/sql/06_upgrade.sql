-- The upgrade path: nyop 0.1.0 with a purchase, ALTER EXTENSION UPDATE through 0.2.0 to the
-- current version; the purchase keeps working and new bids work.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_nyop_upgrade;
DROP ROLE IF EXISTS regress_nyop_early;
RESET client_min_messages;
CREATE DATABASE regress_nyop_upgrade;
CREATE ROLE regress_nyop_early;
\set regress_db :DBNAME
\c regress_nyop_upgrade
CREATE EXTENSION nyop VERSION '0.1.0' CASCADE;
SELECT extversion FROM pg_extension WHERE extname = 'nyop';
CREATE TABLE t (id int PRIMARY KEY, v text, updated timestamptz NOT NULL);
INSERT INTO t SELECT i, 'v' || i, '2017-05-05 12:00+00' FROM generate_series(1, 10) i;
SELECT nyop_register_offering('t', 't', 100, ARRAY['id'], last_updated => 'updated', volatility => '1 day');
SELECT nyop_set_criterion('t', 'timeliness', 1);
SELECT nyop_add_buyer('regress_nyop_early');
SET ROLE regress_nyop_early;
SET nyop.now = '2017-05-07 17:00+00';
INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('t', 50, '{"timeliness": 1}');
SELECT bid_id, status, view FROM nyop.bids;
SELECT count(*) AS rows_before FROM nyop_views.t_1;
RESET ROLE;
ALTER EXTENSION nyop UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'nyop';
ALTER EXTENSION nyop UPDATE;
SELECT e.extversion = a.default_version AS is_default_version
  FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'nyop';
SET ROLE regress_nyop_early;
SET nyop.now = '2017-05-07 17:00+00';
SELECT count(*) AS rows_after FROM nyop_views.t_1;
SELECT offering, paid_total FROM nyop.my_purchases;
INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('t', 60, '{"timeliness": 1}');
SELECT bid_id, status, view FROM nyop.bids ORDER BY bid_id;
SELECT round((nyop_quote('t', 80.5::float8, '{"timeliness": 1}')->>'utility')::numeric, 2) AS quote_float8;
SELECT offering, ask_price FROM nyop.market;
RESET ROLE;
\c :regress_db
DROP DATABASE regress_nyop_upgrade WITH (FORCE);
DROP ROLE regress_nyop_early;
