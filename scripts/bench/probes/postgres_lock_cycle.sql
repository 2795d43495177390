-- The lock cycle of scripts/bench/compare's postgres raw column (postgres_probe.sh, pgbench -f):
-- what Python tooz's PostgreSQL lock sends for an uncontended non-blocking acquire and its
-- release, a session-level advisory lock on a two-int key (tooz's key: the first two bytes of
-- the MD5 of the lock's name), taken and given back. One pgbench transaction is one cycle.
SELECT pg_try_advisory_lock(200, 223);
SELECT pg_advisory_unlock(200, 223);
