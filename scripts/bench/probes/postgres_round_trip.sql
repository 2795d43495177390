-- The round trip of scripts/bench/compare's postgres raw column (postgres_probe.sh, pgbench -f):
-- one statement that touches nothing, on a kept connection.
SELECT 1;
