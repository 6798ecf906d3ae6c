-- The paper's example (Stahl & Vossen): providers A and B, the airline's bid.
SET nyop.now = '2017-05-07 17:00+00';
CREATE TABLE weather_a (
    station text NOT NULL, airpressure int, humidity int, temperature int,
    date date NOT NULL, lastupdated timestamptz NOT NULL,
    PRIMARY KEY (station, date));
INSERT INTO weather_a VALUES
    ('FRA', 1021, 52, 17, '2017-05-08', '2017-05-07 14:00+00'),
    ('FRA', 1020, 43, 19, '2017-05-09', '2017-05-07 15:00+00'),
    ('FRA', 1005, 40, 15, '2017-05-10', '2017-05-07 16:00+00'),
    ('LHR', 1025, 69, 16, '2017-05-08', '2017-05-07 14:00+00'),
    ('LHR', 1008, 65, 14, '2017-05-09', '2017-05-07 15:00+00'),
    ('LHR', 1003, 70, 12, '2017-05-10', '2017-05-07 16:00+00');
CREATE TABLE weather_b (
    station text NOT NULL, airpressure int, humidity int, temperature int,
    windspeed int, cloudage int, precipitation int,
    date date NOT NULL, lastupdated timestamptz NOT NULL,
    PRIMARY KEY (station, date));
INSERT INTO weather_b VALUES
    ('FRA', 1022, NULL, 18,    8,   70,    0, '2017-05-08', '2017-05-07 14:00+00'),
    ('FRA', NULL,   50, 20, NULL,   25,    0, '2017-05-09', '2017-05-07 15:00+00'),
    ('LHR', 1015, NULL, NULL,  23, NULL,   41, '2017-05-08', '2017-05-07 15:00+00'),
    ('LHR', 1004,   79, 13, NULL,   93,   17, '2017-05-09', '2017-05-07 16:00+00'),
    ('AMS', 1021,   59, 13,   16, NULL, NULL, '2017-05-08', '2017-05-07 14:00+00'),
    ('AMS', 1002,   82, 12,   23,   97,   70, '2017-05-09', '2017-05-07 16:00+00');
COMMENT ON TABLE weather_a IS 'Provider A: weather forecasts for Frankfurt and London';
COMMENT ON COLUMN weather_a.temperature IS 'Temperature, degrees Celsius';

-- provider A alone: timeliness, amount of data, customer support
SELECT nyop_register_offering('paper_a', 'weather_a', 1200, ARRAY['station', 'date'],
                              last_updated => 'lastupdated', volatility => '24 hours');
SELECT nyop_set_criterion('paper_a', 'timeliness', 0.5);
SELECT nyop_set_criterion('paper_a', 'amount_of_data', 0.3);
SELECT nyop_set_criterion('paper_a', 'customer_support', 0.2,
       tiers => ARRAY['E-mail, 48 h response', 'Phone 9-5 and e-mail 24 h response', 'Phone and e-mail 24/7']);
-- A and B compete in the group 'weather'
SELECT nyop_register_offering(o.name, o.rel, 1200, ARRAY['station', 'date'], last_updated => 'lastupdated',
                              volatility => '24 hours', comparison_group => 'weather')
  FROM (VALUES ('wa', 'weather_a'::regclass), ('wb', 'weather_b'::regclass)) AS o(name, rel);
SELECT nyop_set_criterion(o, 'completeness', 0.5), nyop_set_criterion(o, 'amount_of_data', 0.3),
       nyop_set_criterion(o, 'customer_support', 0.2,
                          tiers => ARRAY['E-mail, 48 h response', 'Phone 9-5 and e-mail 24 h response',
                                         'Phone and e-mail 24/7'])
  FROM unnest(ARRAY['wa', 'wb']) AS o;

-- quality measured in the database
SELECT o, (q->>'rows')::int AS rows, round((q->>'completeness')::numeric, 4) AS completeness,
       round((q->>'timeliness')::numeric, 4) AS timeliness, round((q->>'amount_of_data')::numeric, 4) AS amount
  FROM unnest(ARRAY['paper_a', 'wa', 'wb']) AS o, nyop_quality(o) AS q ORDER BY o;
SELECT (nyop_quality('paper_a', $$station = 'FRA'$$)->>'rows')::int AS fra_rows;

-- the airline's bid: exact (utility 9.15, cost 984) and the paper's greedy (Table 5)
SELECT s AS solver, q->>'accepted' AS accepted, round((q->>'utility')::numeric, 2) AS utility,
       round((q->>'cost')::numeric, 2) AS cost, round((q->>'residual')::numeric, 2) AS residual,
       q->>'delay' AS delay,
       (SELECT string_agg(k || ' ' || (v->>'level'), ', ' ORDER BY k) FROM jsonb_each(q->'levels') l(k, v)) AS levels
  FROM unnest(ARRAY['exact', 'greedy']) AS s,
       nyop_quote('paper_a', 1000, '{"timeliness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}',
                  solver => s) AS q;
SELECT q->'levels'->'customer_support'->>'terms' AS support_terms, q->'columns' AS columns
  FROM nyop_quote('paper_a', 1000, '{"timeliness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}') AS q;
-- full quality at the ask; a rejected bid names the minimum
SELECT q->>'full_quality' AS full_quality, q->>'delay' AS delay
  FROM nyop_quote('paper_a', 1200, '{"timeliness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}') AS q;
SELECT q->>'accepted' AS accepted, q ? 'reason' AS has_reason, (q->>'minimum_bid')::numeric > 1 AS minimum_named
  FROM nyop_quote('paper_a', 1, '{"timeliness": 1}') AS q;
-- a comparison group: the best member, the other as an alternative
SELECT q->>'offering' AS best, round((q->>'utility')::numeric, 2) AS utility,
       jsonb_path_query_array(q->'alternatives', '$[*].offering') AS alternatives
  FROM nyop_quote('weather', 1000, '{"completeness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}') AS q;
-- what more would buy
SELECT e->'next'->'timeliness'->>'next_level' AS next_timeliness_level,
       round((e->'next'->'timeliness'->>'bid')::numeric, 2) AS at_bid, e->>'full_quality_bid' AS full_quality_bid
  FROM nyop_explain('paper_a', 1000, '{"timeliness": 0.35, "amount_of_data": 0.5, "customer_support": 0.15}') AS e;
SELECT nyop_audit('paper_a')->>'ok' AS audit_ok;
-- the bare solver: one row per class, one column per item
SELECT s->'choice' AS choice, s->>'profit' AS profit, s->>'weight' AS weight, s->>'optimal' AS optimal
  FROM nyop_solve_mckp('{{1,2,3},{1,3,5}}', '{{1,4,5},{2,3,9}}', 6) AS s;
SELECT nyop_solve_mckp('{{1,2,3},{1,3,5}}', '{{1,4,5},{2,3,9}}', 6, 'greedy')->'choice' AS greedy_choice;

-- errors name the bad input, with a SQLSTATE
SELECT regress_try($$SELECT nyop_quote('nosuch', 1000, '{"timeliness": 1}')$$);
SELECT regress_try($$SELECT nyop_quote('paper_a', 'NaN'::numeric, '{"timeliness": 1}')$$);
SELECT regress_try($$SELECT nyop_quote('paper_a', 1000, '{"timeliness": 1}', scope => 'temperature > 15')$$);
SELECT regress_try($$SELECT nyop_register_offering('bad', 'weather_a', -5, ARRAY['station'])$$);
SELECT regress_try($$SELECT nyop_set_criterion('paper_a', 'support', 0.2)$$);
SELECT regress_try($$SELECT nyop_solve_mckp('{{5}}', '{{1}}', 1)$$);
SELECT regress_try($$SELECT nyop_drop_offering('nosuch')$$);
