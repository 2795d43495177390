#!/usr/bin/env bash
# postgres_probe.sh: the raw column of scripts/bench/compare for postgresql://, measured by
# pgbench (C, libpq; neither our client nor tooz's) on one client, one thread:
#
#   postgres_probe.sh BIN_DIR URL ITERATIONS
#
# BIN_DIR holds pgbench (TOOZ_TEST_POSTGRES_BIN: /usr/lib/postgresql/15/bin on Debian 12). Rows,
# one JSON line each in the probes' format (probe_common.h):
#   ping          postgres_round_trip.sql (SELECT 1) on a kept connection;
#   lock          postgres_lock_cycle.sql (pg_try_advisory_lock + pg_advisory_unlock) on a kept
#                 connection;
#   lock_connect  the same cycle on a new connection each time (pgbench -C: connect, scram-sha-256
#                 login, lock, unlock, disconnect), as Python tooz's lock does.
# The kept-connection rows use the extended protocol with prepared statements (-M prepared); the
# -C row the simple protocol, as psycopg2 sends it (a new connection has nothing prepared).
#
# Each row is 5 pgbench runs, of 2 x ITERATIONS transactions each (-C: max(10, ITERATIONS / 5)),
# and its median_us is the median of the runs' mean times per transaction, 1e6 / tps (tps
# without the initial connection; with -C, with every connection). A mean, not a median of
# single transactions: pgbench's per-transaction log (-l) is not usable for that here, as it
# records some of these sub-100 µs transactions as taking 0 µs and their neighbours as longer;
# the median of 5 runs keeps one run that was hit by this machine's other load from counting.
# p90_us is null.
set -euo pipefail

[[ $# -eq 3 && $3 =~ ^[1-9][0-9]*$ ]] || {
    echo "usage: postgres_probe.sh BIN_DIR URL ITERATIONS" >&2
    exit 2
}
bin=$1 url=$2 n=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ -x $bin/pgbench ]] || {
    echo "postgres_probe.sh: no pgbench in $bin" >&2
    exit 1
}

RUNS=5

# row KEY OPERATION TRANSACTIONS PGBENCH_ARG...: runs pgbench RUNS times for TRANSACTIONS
# transactions each and prints the row; pgbench's own output goes to stderr.
row() {
    local key=$1 operation=$2 transactions=$3 out tps means=() run
    shift 3
    for ((run = 1; run <= RUNS; run++)); do
        out=$("$bin/pgbench" -n -c 1 -j 1 -t "$transactions" "$@" "$url" 2>&1) || {
            printf '%s\n' "$out" >&2
            echo "postgres_probe.sh: pgbench failed for $key" >&2
            exit 1
        }
        printf '%s\n' "$out" >&2
        grep -q "actually processed: $transactions/$transactions" <<<"$out" || {
            echo "postgres_probe.sh: pgbench did not complete all $transactions transactions for $key" >&2
            exit 1
        }
        tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n 1)
        [[ $tps =~ ^[0-9]*\.?[0-9]+$ ]] || {
            echo "postgres_probe.sh: no tps line in pgbench's output for $key" >&2
            exit 1
        }
        means+=("$(awk -v tps="$tps" 'BEGIN { printf "%.3f", 1e6 / tps }')")
    done
    printf '%s\n' "${means[@]}" | sort -g | awk -v key="$key" -v op="$operation" -v t="$transactions" -v runs="$RUNS" '
        { v[NR] = $1 }
        END {
            median = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "{\"key\": \"%s\", \"operation\": \"%s; median of %d runs'"'"' means of %d\", \"iterations\": %d, \"median_us\": %.3f, \"p90_us\": null}\n", key, op, runs, t, runs * t, median
        }'
}

row ping "pgbench SELECT 1 on a kept connection (-M prepared)" $((n * 2)) \
    -M prepared -f "$here/postgres_round_trip.sql"
row lock "pgbench pg_try_advisory_lock + pg_advisory_unlock on a kept connection (-M prepared)" $((n * 2)) \
    -M prepared -f "$here/postgres_lock_cycle.sql"
connect_transactions=$((n / 5))
((connect_transactions >= 10)) || connect_transactions=10
row lock_connect "pgbench the same cycle on a new connection each (-C: connect, scram-sha-256 login, lock, unlock, close)" \
    "$connect_transactions" -C -M simple -f "$here/postgres_lock_cycle.sql"
