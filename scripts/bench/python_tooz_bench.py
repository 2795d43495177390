#!/usr/bin/env python3
"""Times Python tooz 9.1.0 on a backend URL, for docs/PERFORMANCE.md: the same operations
`tooz bench` measures (uncontended lock acquire+release, contended hand-off, join/members/leave),
reported as median and p90 in microseconds, and, for redis://, zookeeper://, memcached://,
postgresql:// and mysql://, the round trip of the client library tooz sits on (redis-py's PING,
kazoo's exists("/"), pymemcache's version(), psycopg2's SELECT 1, PyMySQL's SELECT 1), which is
not a tooz call.

Usage: $TOOZ_PYTHON scripts/bench/python_tooz_bench.py URL [ITERATIONS] [--json]

--json prints one JSON object instead of the text table, in the shape of `tooz bench --json`:
{"url": ..., "tool": "python-tooz", "tooz": "9.1.0", "results": [{"key", "operation",
"supported", "iterations", "median_us", "p90_us"} or {"key", "operation", "supported": false,
"reason"}]}. Keys: ping (the client's round trip), lock, handoff, join, members, leave.

Median and p90 are computed as `tooz bench` computes them (p90: the sample at rank
ceil(0.9 n) - 1). The lock row is preceded by min(10, n/10) untimed cycles and the membership
rows by two, as in `tooz bench`.

The hand-off row takes max(10, n/4) hand-offs, but 10 on memcached:// and mysql://: tooz's
memcached and MySQL locks poll (the MySQL one with GET_LOCK(name, 0)), and their blocking acquire
waits 1 s between tries (tenacity's wait_exponential(max=1) from the first retry), so every
hand-off takes about a second.

postgresql:// (tooz's deprecated pgsql driver) has locks only: the group rows come out as not
supported, as for ipc://. Its lock opens a new connection (a login) for each acquisition and
closes it on release, so the lock row times connect + pg_try_advisory_lock + pg_advisory_unlock +
close; the hand-off row's waiter blocks in pg_advisory_lock on its own connection.

mysql:// (tooz's mysql driver, on PyMySQL) has locks only too: the group rows come out as not
supported. Its lock also connects in acquire (a login, then PyMySQL's SET AUTOCOMMIT = 0) and
closes in release, so the lock row times connect + GET_LOCK(name, 0) + RELEASE_LOCK + close.
"""
import argparse
import json
import math
import statistics
import sys
import threading
import time
import uuid
from importlib import metadata

from tooz import coordination


def row(key, title, samples):
    ordered = sorted(samples)
    rank = min(max(math.ceil(len(ordered) * 0.9) - 1, 0), len(ordered) - 1)
    return {
        "key": key,
        "operation": title,
        "supported": True,
        "iterations": len(ordered),
        "median_us": round(statistics.median(ordered) * 1e6, 3),
        "p90_us": round(ordered[rank] * 1e6, 3),
    }


def skipped(key, title, reason):
    return {"key": key, "operation": title, "supported": False, "reason": reason}


def print_row(result):
    """The text output's line for one row (as before --json: no line for a missing client ping,
    one line for all of the unsupported group rows)."""
    if not result["supported"]:
        if result["key"] == "join":
            print(f"group operations: {result['reason']}")
        return
    print(
        f"{result['operation']:<32} {result['iterations']:>5} {result['median_us']:>12.1f} µs {result['p90_us']:>12.1f} µs"
    )


def client_ping(url, coordinator):
    """The round trip of the client library under tooz, or None where there is none."""
    if url.startswith("redis"):
        client = coordinator._client  # redis-py's Redis, made by tooz's driver
        return "client round trip (redis-py PING)", client.ping
    if url.startswith(("zookeeper", "kazoo")):
        client = coordinator._coord  # kazoo's KazooClient, made by tooz's driver
        return "client round trip (kazoo exists /)", lambda: client.exists("/")
    if url.startswith("memcached"):
        client = coordinator.client  # pymemcache's PooledClient, made by tooz's driver
        return "client round trip (pymemcache version)", client.version
    if url.startswith("postgresql"):
        # psycopg2's connection that tooz's driver opens in start() and uses for nothing else
        # (its locks open their own); in autocommit, so SELECT 1 is one round trip and no
        # transaction stays open.
        client = coordinator._conn
        client.autocommit = True

        def select_one():
            with client.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()

        return "client round trip (psycopg2 SELECT 1)", select_one
    if url.startswith("mysql"):
        # PyMySQL's connection that tooz's driver opens in start() and uses for nothing else
        # (its locks open their own); in autocommit, so no transaction stays open.
        client = coordinator._conn
        client.autocommit(True)

        def mysql_select_one():
            with client.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()

        return "client round trip (PyMySQL SELECT 1)", mysql_select_one
    return None


def timed(count, operation, warmup=0):
    for _ in range(warmup):
        operation()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - start)
    return samples


def measure(url, n, emit):
    a = coordination.get_coordinator(url, b"bench-a")
    b = coordination.get_coordinator(url, b"bench-b")
    a.start(start_heart=True)
    b.start(start_heart=True)
    warmup = min(10, max(1, n // 10))
    try:
        ping = client_ping(url, a)
        if ping is None:
            emit(skipped("ping", "client round trip", "no client library round trip for this backend"))
        else:
            title, operation = ping
            emit(row("ping", title, timed(n, operation, warmup)))

        name = "bench-" + uuid.uuid4().hex
        lock = a.get_lock(name.encode())
        # sysv_ipc wheels without semtimedop refuse non-blocking acquires; a free lock does not block.
        blocking = url.startswith("ipc:")

        def cycle():
            lock.acquire(blocking=blocking) or sys.exit("lock unexpectedly busy")
            lock.release()

        emit(row("lock", "lock acquire + release", timed(n, cycle, warmup)))

        # Hand-off: A holds, B blocks in acquire(); time from A's release to B holding.
        samples = []
        # tooz's memcached and MySQL locks retry once a second: keep that row to ~10 s.
        handoffs = 10 if url.startswith(("memcached", "mysql")) else max(10, n // 4)
        for _ in range(handoffs):
            la = a.get_lock(name.encode())
            lb = b.get_lock(name.encode())
            la.acquire()
            got = {}

            def waiter():
                lb.acquire(blocking=True)
                got["t"] = time.perf_counter()

            thread = threading.Thread(target=waiter)
            thread.start()
            time.sleep(0.02)
            released = time.perf_counter()
            la.release()
            thread.join()
            lb.release()
            samples.append(got["t"] - released)
        emit(row("handoff", "lock hand-off, contended", samples))

        titles = {"join": "group join", "members": "group members", "leave": "group leave"}
        try:
            group = ("bench-" + uuid.uuid4().hex).encode()
            a.create_group(group).get()
            joins, members, leaves = [], [], []
            for index in range(-2, max(10, n // 2)):
                start = time.perf_counter()
                a.join_group(group).get()
                joined = time.perf_counter()
                b.get_members(group).get()
                listed = time.perf_counter()
                a.leave_group(group).get()
                left = time.perf_counter()
                if index < 0:
                    continue  # warm-up
                joins.append(joined - start)
                members.append(listed - joined)
                leaves.append(left - listed)
            emit(row("join", titles["join"], joins))
            emit(row("members", titles["members"], members))
            emit(row("leave", titles["leave"], leaves))
            a.delete_group(group).get()
        except Exception as error:  # noqa: BLE001 - ipc, postgresql and mysql have no membership
            for key, title in titles.items():
                emit(skipped(key, title, f"not supported ({type(error).__name__})"))
    finally:
        a.stop()
        b.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("iterations", nargs="?", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text table")
    args = parser.parse_args()
    results = []
    if args.json:
        measure(args.url, args.iterations, results.append)
        report = {
            "url": args.url,
            "tool": "python-tooz",
            "tooz": metadata.version("tooz"),
            "python": sys.version.split()[0],
            "results": results,
        }
        print(json.dumps(report))
    else:
        print(f"python tooz bench on {args.url}")
        measure(args.url, args.iterations, print_row)


if __name__ == "__main__":
    main()
