-- 0.3.0: trust -- a purchase is readable only once paid, its figures are its buyer's business,
-- provider code never runs with anyone else's rights.

-- The transaction that placed the purchase (its view is readable once that has committed) and the
-- delay the view applies (read at query time: view definitions are readable by every role).
ALTER TABLE nyop.purchases ADD COLUMN placed_xid xid8, ADD COLUMN delay interval;
COMMENT ON COLUMN nyop.purchases.placed_xid IS
    'The transaction that placed the bid: the view is readable once it has committed (NULL: restored or before 0.3.0)';
UPDATE nyop.purchases p SET delay = make_interval(secs => (b.quote->>'delay_seconds')::float8)
FROM nyop.bids b WHERE b.bid_id = p.bid_id AND b.quote ? 'delay_seconds';

-- Purchase views kept their price and levels in a COMMENT, which every role can read: gone.
DO $$
DECLARE
    v regclass;
BEGIN
    FOR v IN SELECT p.view FROM nyop.purchases p WHERE p.superseded_by IS NULL LOOP
        EXECUTE format('COMMENT ON VIEW %s IS %L', v,
                       'nyop purchase; its terms: SELECT * FROM nyop.my_purchases');
    END LOOP;
END
$$;

-- History tables indexed their key with a btree, whose entries are limited to ~2.7 kB: long keys
-- the provider's table accepted made its UPDATEs and DELETEs fail (54000). Nothing looks history
-- up by key: the indexes go.
DO $$
DECLARE
    i regclass;
BEGIN
    FOR i IN SELECT x.indexrelid::regclass FROM nyop.histories h JOIN pg_index x ON x.indrelid = h.history LOOP
        EXECUTE format('DROP INDEX %s', i);
    END LOOP;
END
$$;
