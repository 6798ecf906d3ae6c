-- pg_dump keeps the catalog's contents (extension members are otherwise skipped).
SELECT pg_catalog.pg_extension_config_dump('nyop.offerings', '');
SELECT pg_catalog.pg_extension_config_dump('nyop.offering_secrets', '');
SELECT pg_catalog.pg_extension_config_dump('nyop.criteria', '');
SELECT pg_catalog.pg_extension_config_dump('nyop.histories', '');
SELECT pg_catalog.pg_extension_config_dump('nyop.mask_seeds', '');
SELECT pg_catalog.pg_extension_config_dump('nyop.bids', '');
SELECT pg_catalog.pg_extension_config_dump('nyop.purchases', '');
SELECT pg_catalog.pg_extension_config_dump('nyop.buyers', '');
SELECT pg_catalog.pg_extension_config_dump('nyop.criteria_ordinal_seq', '');
SELECT pg_catalog.pg_extension_config_dump('nyop.bids_bid_id_seq', '');
