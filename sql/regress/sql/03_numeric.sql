-- Every numeric parameter takes numeric, float8 and integer arguments (and untyped literals);
-- PostgreSQL picks one function for each, never "is not unique".
SET nyop.now = '2017-05-07 17:00+00';
CREATE TEMP TABLE bids_as (argument text, utility numeric);
INSERT INTO bids_as VALUES
  ('integer',  round((nyop_quote('paper_a', 500, '{"timeliness": 0.35, "amount_of_data": 0.5}')->>'utility')::numeric, 2)),
  ('bigint',   round((nyop_quote('paper_a', 500::bigint, '{"timeliness": 0.35, "amount_of_data": 0.5}')->>'utility')::numeric, 2)),
  ('smallint', round((nyop_quote('paper_a', 500::smallint, '{"timeliness": 0.35, "amount_of_data": 0.5}')->>'utility')::numeric, 2)),
  ('numeric',  round((nyop_quote('paper_a', 500.0, '{"timeliness": 0.35, "amount_of_data": 0.5}')->>'utility')::numeric, 2)),
  ('float8',   round((nyop_quote('paper_a', 500.0::float8, '{"timeliness": 0.35, "amount_of_data": 0.5}')->>'utility')::numeric, 2)),
  ('real',     round((nyop_quote('paper_a', 500.0::real, '{"timeliness": 0.35, "amount_of_data": 0.5}')->>'utility')::numeric, 2)),
  ('literal',  round((nyop_quote('paper_a', '500', '{"timeliness": 0.35, "amount_of_data": 0.5}')->>'utility')::numeric, 2));
SELECT * FROM bids_as;
SELECT (nyop_explain('paper_a', 1000.0::float8, '{"timeliness": 1}')->>'full_quality_bid')::numeric AS explain_float8;
-- which function each call resolves to: numeric arguments the numeric one, the rest the float8 one
EXPLAIN (VERBOSE, COSTS OFF) SELECT nyop_quote('paper_a', 500.0, '{}');
EXPLAIN (VERBOSE, COSTS OFF) SELECT nyop_quote('paper_a', 500, '{}');
EXPLAIN (VERBOSE, COSTS OFF) SELECT nyop_quote('paper_a', '500', '{}');
EXPLAIN (VERBOSE, COSTS OFF) SELECT nyop_quote('paper_a', 500::float8, '{}');
EXPLAIN (VERBOSE, COSTS OFF) SELECT nyop_register_offering('x', 'weather_a', 1200, '{id}', reserve_price => 1000.5);
EXPLAIN (VERBOSE, COSTS OFF) SELECT nyop_register_offering('x', 'weather_a', 1200.0, '{id}', reserve_price => 1000.5);
EXPLAIN (VERBOSE, COSTS OFF) SELECT nyop_set_criterion('x', 'completeness', 0.5);
EXPLAIN (VERBOSE, COSTS OFF) SELECT nyop_set_criterion('x', 'completeness', 1, threshold => 0.5::float8);
-- providers: float8 and integer prices, weights, thresholds
SELECT nyop_register_offering('f8', 'weather_a', 1200.0::float8, ARRAY['station', 'date'],
                              last_updated => 'lastupdated', volatility => '24 hours', reserve_price => 1000.5::float8);
SELECT nyop_register_offering('f8_mixed', 'weather_a', 1200::float8, ARRAY['station', 'date'], reserve_price => 999.5);
SELECT nyop_register_offering('i4', 'weather_a', 1200, ARRAY['station', 'date'], reserve_price => 1000);
SELECT nyop_set_criterion('f8', 'timeliness', 0.5::float8), nyop_set_criterion('f8', 'amount_of_data', 1),
       nyop_set_criterion('f8', 'completeness', 0.25::float8, threshold => 0.1::float8),
       nyop_set_criterion('i4', 'amount_of_data', 1, threshold => 0);
SELECT name, ask_price, reserve_price FROM nyop.offerings WHERE name IN ('f8', 'f8_mixed', 'i4') ORDER BY name;
SELECT offering, criterion, provider_weight, threshold FROM nyop.criteria
 WHERE offering IN ('f8', 'i4') ORDER BY offering, ordinal;
SELECT nyop_set_commission(0.1::float8);
SELECT nyop_set_commission(0);
SELECT key, value FROM nyop.settings WHERE key = 'commission_rate';
-- the float8 path refuses what the numeric one refuses
SELECT regress_try($$SELECT nyop_quote('paper_a', 'NaN'::float8, '{"timeliness": 1}')$$);
SELECT regress_try($$SELECT nyop_quote('paper_a', 'Infinity'::float8, '{"timeliness": 1}')$$);
SELECT regress_try($$SELECT nyop_set_commission(1.5::float8)$$);
SELECT regress_try($$SELECT nyop_set_criterion('f8', 'timeliness', 'NaN'::float8)$$);
SELECT nyop_drop_offering(o) FROM unnest(ARRAY['f8', 'f8_mixed', 'i4']) o;
