#!/usr/bin/env bash
# mysql_probe.sh: a second raw probe for mysql:// in scripts/bench/compare, beside mysql_probe.c:
# the same cycles timed by mariadb-slap (C, libmariadb; neither our client nor tooz's PyMySQL),
# MariaDB's own load tool, with one client:
#
#   mysql_probe.sh HOST PORT USER PASSWORD DATABASE ITERATIONS
#
# Rows, one JSON line each in the probes' format (probe_common.h), plus ops_per_s:
#   ping_slap          SELECT 1 on a kept connection;
#   lock_slap          SELECT GET_LOCK('tooz-bench-probe', 0); SELECT RELEASE_LOCK('tooz-bench-probe')
#                      on a kept connection (what a lock cycle costs when the session is kept, as
#                      our backend keeps it);
#   lock_connect_slap  the same cycle on a new connection each time (mariadb-slap --detach=2:
#                      connect, mysql_native_password login, lock, unlock, COM_QUIT), as Python
#                      tooz's lock does (it connects in acquire and closes in release).
# mariadb-slap is no floor: on this kind of machine its means come out about twice
# mysql_probe.c's medians for the kept-connection rows (its own work between statements, and
# means take in the slow outliers), and its reconnections also sleep 1 µs (a timer wake-up, ~0.1
# ms here) and connect without blocking (one more wake-up). It is kept as a cross-check that needs
# no compiler.
# Plain TCP (--skip-ssl), as the URLs of the other two columns: Debian's client library otherwise
# turns TLS on whenever the server offers it, and then spends ~30 ms of CPU on each connection
# (a new TLS context, with the system's CA certificates loaded).
#
# Each row is 5 mariadb-slap runs (--concurrency=1 --iterations=1, the statements repeated by
# --number-of-queries), of max(2 x ITERATIONS, 1000) cycles each for the kept-connection rows and
# max(ITERATIONS, 100) for lock_connect, and its median_us is the median of the runs' mean times
# per cycle (the run's seconds / cycles; mariadb-slap reports whole milliseconds, so a run lasts
# at least ~100 ms). A mean, as postgres_probe.sh's pgbench rows; a kept-connection run's time
# also holds its one connect and login (under 1% of it at these counts). p90_us is null.
set -euo pipefail

[[ $# -eq 6 && $6 =~ ^[1-9][0-9]*$ ]] || {
    echo "usage: mysql_probe.sh HOST PORT USER PASSWORD DATABASE ITERATIONS" >&2
    exit 2
}
host=$1 port=$2 user=$3 password=$4 database=$5 n=$6
slap=$(command -v mariadb-slap || command -v mysqlslap || true)
[[ -n $slap ]] || {
    echo "mysql_probe.sh: no mariadb-slap (Debian package mariadb-client)" >&2
    exit 1
}

RUNS=5
LOCK="SELECT GET_LOCK('tooz-bench-probe', 0);SELECT RELEASE_LOCK('tooz-bench-probe')"

# row KEY OPERATION CYCLES STATEMENTS_PER_CYCLE QUERY [SLAP_ARG...]: runs mariadb-slap RUNS times
# for CYCLES cycles each and prints the row; mariadb-slap's own output goes to stderr.
row() {
    local key=$1 operation=$2 cycles=$3 per_cycle=$4 query=$5 out seconds means=() run
    shift 5
    for ((run = 1; run <= RUNS; run++)); do
        # --create-schema names the database to use (it exists: --no-drop keeps it).
        out=$("$slap" --no-defaults --skip-ssl --protocol=tcp -h "$host" -P "$port" -u "$user" -p"$password" \
            --create-schema="$database" --no-drop --concurrency=1 --iterations=1 \
            --number-of-queries=$((cycles * per_cycle)) --delimiter=';' --query="$query" "$@" 2>&1) || {
            printf '%s\n' "$out" >&2
            echo "mysql_probe.sh: mariadb-slap failed for $key" >&2
            exit 1
        }
        printf '%s\n' "$out" >&2
        grep -q "Average number of queries per client: $((cycles * per_cycle))\$" <<<"$out" || {
            echo "mysql_probe.sh: mariadb-slap did not run all $((cycles * per_cycle)) statements for $key" >&2
            exit 1
        }
        seconds=$(sed -n 's/^[[:space:]]*Average number of seconds to run all queries: \([0-9.]*\) seconds$/\1/p' <<<"$out" | head -n 1)
        if ! [[ $seconds =~ ^[0-9]*\.?[0-9]+$ ]] || ! awk -v s="$seconds" 'BEGIN { exit !(s > 0) }'; then
            echo "mysql_probe.sh: no usable time in mariadb-slap's output for $key ('$seconds'; too few cycles?)" >&2
            exit 1
        fi
        means+=("$(awk -v s="$seconds" -v c="$cycles" 'BEGIN { printf "%.3f", s * 1e6 / c }')")
    done
    printf '%s\n' "${means[@]}" | sort -g | awk -v key="$key" -v op="$operation" -v c="$cycles" -v runs="$RUNS" '
        { v[NR] = $1 }
        END {
            median = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "{\"key\": \"%s\", \"operation\": \"%s; median of %d runs'"'"' means of %d\", \"iterations\": %d, \"median_us\": %.3f, \"p90_us\": null, \"ops_per_s\": %.1f}\n", key, op, runs, c, runs * c, median, 1e6 / median
        }'
}

kept=$((n * 2))
((kept >= 1000)) || kept=1000
connect_cycles=$n
((connect_cycles >= 100)) || connect_cycles=100

row ping_slap "mariadb-slap SELECT 1 on a kept connection" "$kept" 1 "SELECT 1"
row lock_slap "mariadb-slap GET_LOCK(name, 0) + RELEASE_LOCK(name) on a kept connection" "$kept" 2 "$LOCK"
row lock_connect_slap "mariadb-slap the same cycle on a new connection each (--detach=2: connect, mysql_native_password login, lock, unlock, close)" \
    "$connect_cycles" 2 "$LOCK" --detach=2
