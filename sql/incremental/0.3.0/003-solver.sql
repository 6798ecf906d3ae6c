-- 0.3.0: nyop_solve_mckp hands its arrays to PL/Python in their binary form (array_send;
-- issue 16), so the internal function takes bytea now: its float8[] version goes.
DROP FUNCTION IF EXISTS nyop._solve_mckp(float8[], float8[], float8, text);
