#!/usr/bin/env python3
"""Times how long a swift-tooz lock waiter (`tooz lock`) takes to hold a redis:// lock once a
holder that announces nothing lets it go, for docs/PERFORMANCE.md:

- python-release: a Python tooz 9.1.0 member holds the lock and releases it (redis-py's
  compare-and-delete); measured from just before `release()` to the Swift waiter's acquisition.
- expiry: a crashed holder: the key is written with `SET key token NX PX <ttl>` and never
  touched again; measured from the key's nominal expiry (the middle of the SET's round trip
  plus the TTL) to the Swift waiter's acquisition.

The acquisition is seen as swift-tooz's fencing counter (`_tooz_fencing`, INCR'ed by the same
script that takes the lock) going up, watched with back-to-back GETs (one loopback round trip,
well under a millisecond). The lock key itself is never read while waiting: reading an expired
key makes Redis delete it on the spot, which would hide how late the server's own expiry comes.
Every run uses a fresh lock name; the waiter is given `--settle` seconds plus a random 0-100 ms
(so that a polling waiter is met at every phase of its 0.1 s cycle; the expiry's TTL gets the
same) to connect and start waiting before the release or expiry.

Usage: $TOOZ_PYTHON scripts/bench/redis_handoff.py TOOZ_BINARY URL [--runs N] [--settle S] [--ttl MS]
The URL is the one `tooz lock --url` gets; add options (`?lock_poll_interval=...`) to it.
"""
import argparse
import random
import statistics
import subprocess
import time
import uuid
from urllib.parse import urlsplit

import redis
from tooz import coordination


FENCING = b"_tooz_fencing"


def fencing(client):
    return int(client.get(FENCING) or 0)


def wait_for_acquisition(client, before, limit):
    """The perf_counter instant at which the fencing counter first passed `before`."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        value = fencing(client)
        now = time.perf_counter()
        if value > before:
            return now
    raise SystemExit(f"the Swift waiter took no lock within {limit} s")


def start_waiter(binary, url, name):
    return subprocess.Popen(
        [binary, "lock", "--url", url, "--member", "swift-waiter-" + name[-8:], name, "--", "true"],
        stdout=subprocess.DEVNULL,
    )


def run_python_release(binary, url, client, settle):
    name = "handoff-" + uuid.uuid4().hex
    key = f"_tooz_{name}_lock".encode()
    # Python tooz gets the server only: the options are swift-tooz's.
    parts = urlsplit(url)
    holder = coordination.get_coordinator(f"{parts.scheme}://{parts.netloc}", b"python-holder")
    holder.start()
    try:
        lock = holder.get_lock(name.encode())
        assert lock.acquire(blocking=False), "the fresh lock was busy"
        assert client.exists(key)
        waiter = start_waiter(binary, url, name)
        time.sleep(settle + random.uniform(0, 0.1))
        counter = fencing(client)
        released = time.perf_counter()
        assert lock.release()
        acquired = wait_for_acquisition(client, counter, 30)
        waiter.wait(timeout=30)
        return acquired - released
    finally:
        holder.stop()


def run_expiry(binary, url, client, settle, ttl_ms):
    name = "expiry-" + uuid.uuid4().hex
    key = f"_tooz_{name}_lock".encode()
    token = b"crashed-" + uuid.uuid4().hex.encode()
    counter = fencing(client)
    ttl_ms += random.randint(0, 100)  # a random phase against the waiter's poll, as above
    before = time.perf_counter()
    assert client.set(key, token, nx=True, px=ttl_ms)
    after = time.perf_counter()
    expires = (before + after) / 2 + ttl_ms / 1000
    waiter = start_waiter(binary, url, name)
    if time.perf_counter() + settle > expires:
        raise SystemExit("--ttl is too short for --settle: the key would expire before the waiter waits")
    acquired = wait_for_acquisition(client, counter, 30 + ttl_ms / 1000)
    waiter.wait(timeout=30)
    return acquired - expires


def summary(name, samples):
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    print(
        f"{name:<16} runs {len(samples):>3}  median {statistics.median(samples) * 1e3:8.1f} ms"
        f"  p90 {p90 * 1e3:8.1f} ms  min {ordered[0] * 1e3:7.1f} ms  max {ordered[-1] * 1e3:7.1f} ms"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("url")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds the waiter gets to start waiting")
    parser.add_argument("--ttl", type=int, default=2500, help="the crashed holder's PX in ms")
    args = parser.parse_args()

    parts = urlsplit(args.url)
    client = redis.Redis(host=parts.hostname or "127.0.0.1", port=parts.port or 6379)
    print(f"swift waiter: {args.binary}; url: {args.url}")
    summary("python-release", [run_python_release(args.binary, args.url, client, args.settle) for _ in range(args.runs)])
    summary("expiry", [run_expiry(args.binary, args.url, client, args.settle, args.ttl) for _ in range(args.runs)])


if __name__ == "__main__":
    main()
