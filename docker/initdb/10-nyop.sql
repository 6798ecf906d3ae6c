-- Run once by the official image's entrypoint when it initialises an empty data
-- directory: psql as POSTGRES_USER, connected to POSTGRES_DB (default: POSTGRES_USER, i.e. postgres).
--
-- Only POSTGRES_DB gets the extension, not template1: CREATE EXTENSION is a per-database
-- decision (it pulls in the untrusted plpython3u), and a database copied from a template
-- that already has nyop would make a plain `CREATE EXTENSION nyop` fail with
-- "extension already exists" -- which is what the test suite runs in each fresh database.
-- For another database: `CREATE EXTENSION nyop CASCADE;` in it, as a superuser.
CREATE EXTENSION IF NOT EXISTS nyop CASCADE;

SELECT 'nyop ' || extversion || ' installed in database ' || current_database() AS nyop
  FROM pg_extension WHERE extname = 'nyop';
