-- Who may do what: a buyer, a provider, a role nyop was never told about.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_nyop_buyer;
DROP ROLE IF EXISTS regress_nyop_provider;
DROP ROLE IF EXISTS regress_nyop_stranger;
RESET client_min_messages;
CREATE ROLE regress_nyop_buyer;
CREATE ROLE regress_nyop_provider;
CREATE ROLE regress_nyop_stranger;
CREATE TABLE regress_sold (id int PRIMARY KEY, v text, updated timestamptz NOT NULL);
INSERT INTO regress_sold SELECT i, 'v' || i, '2017-05-07 12:00+00' FROM generate_series(1, 20) i;
ALTER TABLE regress_sold OWNER TO regress_nyop_provider;
SELECT nyop_register_offering('sold', 'regress_sold', 100, ARRAY['id'], last_updated => 'updated',
                              volatility => '1 day');
SELECT nyop_set_criterion('sold', 'timeliness', 1);
SELECT nyop_add_buyer('regress_nyop_buyer'), nyop_add_provider('regress_nyop_provider');

-- the buyer: quotes, browses, buys, reads its own view and purchases, nothing else
SET ROLE regress_nyop_buyer;
SET nyop.now = '2017-05-07 17:00+00';
SELECT nyop_quote('sold', 100, '{"timeliness": 1}')->>'accepted' AS quote;
SELECT nyop_quote('sold', 100.0::float8, '{"timeliness": 1}')->>'accepted' AS quote_float8;
SELECT (nyop_quality('sold')->>'rows')::int AS quality_rows;
SELECT offering, ask_price FROM nyop.market WHERE offering = 'sold';
INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('sold', 100, '{"timeliness": 1}');
SELECT status, view IS NOT NULL AS has_view FROM nyop.bids;
SELECT offering, paid_total, delay FROM nyop.my_purchases;
SELECT count(*) AS rows_in_view FROM nyop_views.sold_1;
SELECT regress_try('SELECT * FROM regress_sold');
SELECT regress_try('SELECT * FROM nyop.offerings');
SELECT regress_try('SELECT * FROM nyop.offering_secrets');
SELECT regress_try('SELECT * FROM nyop.provider_bids');
SELECT regress_try($$SELECT nyop_register_offering('mine', 'regress_sold', 1, ARRAY['id'])$$);
SELECT regress_try($$SELECT nyop_add_buyer('regress_nyop_stranger')$$);
SELECT regress_try($$INSERT INTO nyop.bids (offering, bid, preferences, buyer) VALUES ('sold', 100, '{}', 'regress_nyop_stranger')$$);
SELECT regress_try($$UPDATE nyop.bids SET bid = 1$$);
RESET ROLE;

-- the provider: sees bids on its offerings (no weights), browses, audits; does not quote
SET ROLE regress_nyop_provider;
SELECT offering, bid, status FROM nyop.provider_bids;
SELECT offering FROM nyop.market WHERE offering = 'sold';
SELECT nyop_audit('sold')->>'ok' AS audit_ok;
SELECT regress_try($$SELECT nyop_quote('sold', 100, '{"timeliness": 1}')$$);
SELECT regress_try('SELECT * FROM nyop.bids');
SELECT regress_try('SELECT * FROM nyop_views.sold_1');
RESET ROLE;

-- a stranger: nothing
SET ROLE regress_nyop_stranger;
SELECT regress_try($$SELECT nyop_quote('sold', 100, '{"timeliness": 1}')$$);
SELECT regress_try($$SELECT nyop_quote('sold', 100.0::float8, '{"timeliness": 1}')$$);
SELECT regress_try('SELECT * FROM nyop.market');
SELECT regress_try('SELECT * FROM nyop.my_purchases');
SELECT regress_try($$INSERT INTO nyop.bids (offering, bid, preferences) VALUES ('sold', 100, '{}')$$);
SELECT regress_try('SELECT * FROM nyop_views.sold_1');
RESET ROLE;

-- a removed buyer loses its view
SELECT nyop_remove_buyer('regress_nyop_buyer');
SET ROLE regress_nyop_buyer;
SELECT regress_try('SELECT * FROM nyop_views.sold_1');
RESET ROLE;
SELECT nyop_drop_offering('sold', force => true);
DROP TABLE regress_sold;
DROP OWNED BY regress_nyop_buyer, regress_nyop_provider, regress_nyop_stranger;
DROP ROLE regress_nyop_buyer, regress_nyop_provider, regress_nyop_stranger;
