-- nyop.market: what is for sale, with descriptions from the provider's COMMENTs
SELECT offering, description, provider, ask_price, comparison_group, preview
  FROM nyop.market ORDER BY offering;
SELECT offering, jsonb_pretty(columns) FROM nyop.market WHERE offering = 'paper_a';
SELECT offering, criteria FROM nyop.market ORDER BY offering;
SELECT offering, (quality->>'rows')::int AS rows, round((quality->>'completeness')::numeric, 4) AS completeness
  FROM nyop.market ORDER BY offering;
-- no reserve price, weights or secret anywhere in it
SELECT attname FROM pg_attribute WHERE attrelid = 'nyop.market'::regclass AND attnum > 0 ORDER BY attnum;
SELECT count(*) AS leaks FROM nyop.market m
 WHERE m::text ~ '(reserve|provider_weight|secret)';
-- a free preview shows up
SELECT nyop_publish_preview('paper_a') IS NOT NULL AS published;
SELECT offering, preview IS NOT NULL AS has_preview FROM nyop.market ORDER BY offering;
SELECT nyop_unpublish_preview('paper_a');
