#!/usr/bin/env python3
"""Times Python tooz 9.1.0 on a backend URL, for docs/PERFORMANCE.md: the same operations
`tooz bench` measures (uncontended lock acquire+release, contended hand-off, join/members/leave),
reported as median and p90 in microseconds.

Usage: $TOOZ_PYTHON scripts/bench/python_tooz_bench.py URL [ITERATIONS]
"""
import statistics
import sys
import threading
import time
import uuid

from tooz import coordination


def summary(name, samples):
    samples = sorted(samples)
    p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
    print(f"{name:<32} {len(samples):>5} {statistics.median(samples) * 1e6:>12.1f} µs {p90 * 1e6:>12.1f} µs")


def main():
    url = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    a = coordination.get_coordinator(url, b"bench-a")
    b = coordination.get_coordinator(url, b"bench-b")
    a.start(start_heart=True)
    b.start(start_heart=True)
    try:
        print(f"python tooz bench on {url}")
        name = "bench-" + uuid.uuid4().hex
        lock = a.get_lock(name.encode())
        # sysv_ipc wheels without semtimedop refuse non-blocking acquires; a free lock does not block.
        blocking = url.startswith("ipc:")
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            lock.acquire(blocking=blocking) or sys.exit("lock unexpectedly busy")
            lock.release()
            samples.append(time.perf_counter() - start)
        summary("lock acquire + release", samples)

        # Hand-off: A holds, B blocks in acquire(); time from A's release to B holding.
        samples = []
        for _ in range(max(10, n // 4)):
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
        summary("lock hand-off, contended", samples)

        try:
            group = ("bench-" + uuid.uuid4().hex).encode()
            a.create_group(group).get()
            joins, members, leaves = [], [], []
            for _ in range(max(10, n // 2)):
                start = time.perf_counter()
                a.join_group(group).get()
                joins.append(time.perf_counter() - start)
                start = time.perf_counter()
                b.get_members(group).get()
                members.append(time.perf_counter() - start)
                start = time.perf_counter()
                a.leave_group(group).get()
                leaves.append(time.perf_counter() - start)
            summary("group join", joins)
            summary("group members", members)
            summary("group leave", leaves)
            a.delete_group(group).get()
        except Exception as error:  # noqa: BLE001 - ipc has no membership
            print(f"group operations: not supported ({type(error).__name__})")
    finally:
        a.stop()
        b.stop()


if __name__ == "__main__":
    main()
