#!/usr/bin/env python3
"""A Python tooz 9.1.0 member that the Swift interop tests drive over stdin/stdout.

Protocol: one JSON object per line in each direction. A request is
``{"id": N, "op": "<name>", ...arguments}``; the answer is
``{"id": N, "ok": true, "result": ...}`` or
``{"id": N, "ok": false, "error": "<exception class>", "message": "..."}``.
The first line the peer writes, before reading anything, is a hello with the
versions it runs (``{"id": 0, "ok": true, "result": {...}}``).

Ids (groups, members, locks) travel as text and are handed to tooz as UTF-8
bytes, which is tooz's contract. Capabilities go to tooz as a Python literal
(``ast.literal_eval``) so that the test states them in Python's own terms, and
come back both as ``repr()`` and as oslo msgpack bytes in hex, so the Swift side
can compare them with its own values exactly.

The peer never outlives the test that started it: it exits on end of input, when
its parent process goes away, on SIGTERM, and after ``--max-seconds`` whatever
happens. On every exit it releases the locks it holds (an ipc:// release removes
the semaphore, so nothing is left behind) and stops its coordinator.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

import tooz
from tooz import coordination
from tooz import hashring
from tooz import utils

LOG = logging.getLogger("tooz_peer")

# Answers are written from the main thread only, but the exit path may run on
# the watchdog thread, so guard the stream.
_OUT_LOCK = threading.Lock()


def _b(text: str) -> bytes:
    return text.encode("utf-8")


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return value


def _describe(value: Any) -> dict[str, Any]:
    """A value as the Swift side needs it: its repr and its oslo msgpack form."""
    return {"repr": repr(value), "msgpack": utils.dumps(value).hex()}


class BackgroundAcquire:
    """A blocking ``acquire()`` running on its own thread.

    Used where the test needs to see that Python waits for a lock that Swift
    holds (and, on ipc:// builds without semtimedop, the only kind of acquire
    that Python tooz offers).
    """

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.done = threading.Event()
        self.acquired: bool | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.acquired = bool(self.lock.acquire(blocking=True))
        except Exception as exc:  # reported to the test, which fails on it
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done.set()

    def state(self) -> dict[str, Any]:
        return {
            "done": self.done.is_set(),
            "acquired": self.acquired,
            "error": self.error,
        }


class Peer:
    def __init__(self) -> None:
        self.coordinator: Any = None
        self.started = False
        self.url: str | None = None
        self.locks: dict[str, Any] = {}
        self.background: dict[str, BackgroundAcquire] = {}
        self.partitioners: dict[str, Any] = {}
        # Leadership: the callback registered per group, and every LeaderElected seen.
        self.election_callbacks: dict[str, Any] = {}
        self.elected: list[dict[str, str]] = []
        # A plain pymemcache client for raw item reads (memcached:// peers only).
        self._raw_memcached: Any = None
        self._exit_lock = threading.Lock()
        self._exiting = False

    # Lifecycle -------------------------------------------------------------

    # How long start() keeps trying to connect. tooz's `timeout` also bounds one
    # attempt (a ZooKeeper session must be granted within it, 10 s by default),
    # which a loaded machine can exceed; the Swift side waits longer than this.
    START_PATIENCE_SECONDS = 60.0

    def op_start(self, url: str, member: str, heart: bool = True) -> dict[str, Any]:
        self.url = url
        self.coordinator = coordination.get_coordinator(url, _b(member))
        # tooz's IPCDriver.stop() removes the host-wide group-list segment (see
        # the reference, bugs §4.2 #10), which would wipe the groups of every
        # ipc:// coordinator on the host, Swift tests running in parallel
        # included. Locks need no started driver, so on ipc:// we never start.
        if not url.startswith("ipc:"):
            deadline = time.monotonic() + self.START_PATIENCE_SECONDS
            while True:
                try:
                    self.coordinator.start(start_heart=heart)
                    break
                except coordination.ToozConnectionError:
                    if time.monotonic() >= deadline:
                        raise
                    # A fresh driver: a failed start may leave the old one half set up.
                    self.coordinator = coordination.get_coordinator(url, _b(member))
            self.started = True
        return {"started": self.started}

    def op_stop(self) -> dict[str, Any]:
        released = self.release_everything()
        return {"released": released}

    def release_everything(self) -> list[str]:
        released = []
        for name, lock in list(self.locks.items()):
            try:
                if lock.release():
                    released.append(name)
            except Exception:
                LOG.exception("could not release lock %s", name)
        for name, job in list(self.background.items()):
            # A waiter that the holder's release has just woken may be about to own the
            # lock: give it a moment, so that what it gets is released too.
            job.done.wait(0.5)
            if job.done.is_set() and job.acquired:
                try:
                    if job.lock.release():
                        released.append(name)
                except Exception:
                    LOG.exception("could not release lock %s", name)
        self.locks.clear()
        self.background.clear()
        for partitioner in self.partitioners.values():
            try:
                partitioner.stop()
            except Exception:
                LOG.exception("could not stop a partitioner")
        self.partitioners.clear()
        self.election_callbacks.clear()
        if self._raw_memcached is not None:
            try:
                self._raw_memcached.close()
            except Exception:
                LOG.exception("could not close the raw memcached client")
            self._raw_memcached = None
        if self.started:
            self.started = False
            try:
                self.coordinator.stop()
            except Exception:
                LOG.exception("could not stop the coordinator")
        return released

    def exit_now(self, code: int, why: str) -> None:
        """Releases everything and ends the process, from any thread, once."""
        with self._exit_lock:
            if self._exiting:
                return
            self._exiting = True
        LOG.info("exiting: %s", why)
        # A stuck backend must not keep us alive: give the clean-up a few
        # seconds, then leave regardless.
        cleaner = threading.Thread(target=self.release_everything, daemon=True)
        cleaner.start()
        cleaner.join(5)
        sys.stderr.flush()
        os._exit(code)

    # Groups ----------------------------------------------------------------

    def op_create_group(self, group: str) -> None:
        self.coordinator.create_group(_b(group)).get()

    def op_delete_group(self, group: str) -> None:
        self.coordinator.delete_group(_b(group)).get()

    def op_get_groups(self) -> list[str]:
        return sorted(_text(g) for g in self.coordinator.get_groups().get())

    def op_join_group(self, group: str, capabilities: str | None = None) -> None:
        caps = None if capabilities is None else ast.literal_eval(capabilities)
        self.coordinator.join_group(_b(group), caps).get()

    def op_leave_group(self, group: str) -> None:
        self.coordinator.leave_group(_b(group)).get()

    def op_get_members(self, group: str) -> list[str]:
        return sorted(_text(m) for m in self.coordinator.get_members(_b(group)).get())

    def op_get_member_capabilities(self, group: str, member: str) -> dict[str, Any]:
        caps = self.coordinator.get_member_capabilities(_b(group), _b(member)).get()
        return _describe(caps)

    def op_get_members_with_capabilities(self, group: str) -> dict[str, Any]:
        found = self.coordinator.get_members_with_capabilities(_b(group)).get()
        return {_text(m): _describe(c) for m, c in found.items()}

    def op_update_capabilities(self, group: str, capabilities: str) -> None:
        self.coordinator.update_capabilities(_b(group), ast.literal_eval(capabilities)).get()

    def op_heartbeat(self) -> Any:
        return self.coordinator.heartbeat()

    # Locks -----------------------------------------------------------------

    def _lock(self, name: str) -> Any:
        if name not in self.locks:
            self.locks[name] = self.coordinator.get_lock(_b(name))
        return self.locks[name]

    def op_lock_acquire(self, name: str, blocking: bool | float = False) -> bool:
        if blocking is True:
            raise ValueError("use lock_acquire_background for a blocking acquire")
        return bool(self._lock(name).acquire(blocking=blocking))

    def op_lock_release(self, name: str) -> bool:
        """Releases whichever of our lock objects for `name` holds it."""
        job = self.background.get(name)
        if job is not None and job.done.is_set() and job.acquired:
            del self.background[name]
            return bool(job.lock.release())
        lock = self.locks.pop(name, None)
        return bool(lock.release()) if lock is not None else False

    def op_lock_is_still_owner(self, name: str) -> bool:
        """Whether our lock object for `name` still owns it on the server."""
        lock = self.locks.get(name)
        return bool(lock.is_still_owner()) if lock is not None else False

    def op_lock_break(self, name: str) -> bool:
        """`get_lock(name).break_()`: frees the lock whoever holds it."""
        return bool(self.coordinator.get_lock(_b(name)).break_())

    def op_lock_get_owner(self, name: str) -> str | None:
        """`get_lock(name).get_owner()` on a fresh lock object: the holder as the
        driver stores it (on memcached, the holder's member id), or None. Drivers
        whose locks have no get_owner raise NotImplemented."""
        get_owner = getattr(self.coordinator.get_lock(_b(name)), "get_owner", None)
        if get_owner is None:
            raise tooz.NotImplemented("this driver's locks have no get_owner")
        return _text(get_owner())

    def op_lock_acquire_background(self, name: str) -> dict[str, Any]:
        if name in self.background:
            raise ValueError(f"a background acquire of {name!r} already runs")
        # A lock object of its own: tooz locks are per object, not re-entrant.
        job = BackgroundAcquire(self.coordinator.get_lock(_b(name)))
        self.background[name] = job
        return job.state()

    def op_lock_wait(self, name: str, timeout: float) -> dict[str, Any]:
        """Waits up to `timeout` seconds for a background acquire to finish."""
        job = self.background[name]
        job.done.wait(timeout)
        return job.state()

    # Leadership ------------------------------------------------------------
    #
    # tooz elects only inside run_watchers(): on redis every round tries a
    # non-blocking acquire of the lock `leader_of_<g>` (key
    # `_tooz_leader_of_<g>_lock`) for each group with election hooks, and fires
    # LeaderElected once when it wins. The won lock sits in the driver's
    # `_acquired_locks`, where heartbeat() refreshes it and stop() releases it.
    # On zookeeper every round does a non-blocking acquire of the kazoo Lock at
    # `/<ns>/<g>/leader` (identifier: the member id), kept per group in the
    # driver's `_leader_locks`; stand_down_group_leader releases it, and
    # answers True whenever that lock object exists, held or not.

    def _on_elected(self, event: Any) -> None:
        self.elected.append({"group": _text(event.group_id), "member": _text(event.member_id)})

    def _tracks_leader_locks(self) -> bool:
        """Whether the driver elects with a lock it keeps (redis, memcached)."""
        return hasattr(self.coordinator, "_acquired_locks") and hasattr(
            self.coordinator, "_get_leader_lock"
        )

    def _leader_locks(self, group: str) -> list[Any]:
        """The driver's leader locks for `group` that it counts as acquired."""
        # A new lock object only to learn the key name; it talks to no server.
        name = self.coordinator._get_leader_lock(_b(group)).name
        return [lock for lock in list(self.coordinator._acquired_locks) if lock.name == name]

    def op_volunteer(self, group: str) -> dict[str, Any]:
        """`watch_elected_as_leader(group, cb)` once, then one `run_watchers()`.

        Returns ``{"elected": <holds leadership of group now>, "events":
        [<the LeaderElected events this round fired>]}``.
        """
        if group not in self.election_callbacks:
            callback = self._on_elected
            self.coordinator.watch_elected_as_leader(_b(group), callback)
            self.election_callbacks[group] = callback
        seen = len(self.elected)
        self.coordinator.run_watchers()
        return {"elected": self.op_is_leader(group), "events": self.elected[seen:]}

    def op_run_watchers(self) -> list[dict[str, str]]:
        """One `run_watchers()`; every LeaderElected seen so far, oldest first,
        as ``[{"group": g, "member": m}, ...]``."""
        self.coordinator.run_watchers()
        return list(self.elected)

    def _kazoo_leader_lock(self, group: str) -> Any:
        """On zookeeper, the driver's kazoo Lock for `group` (None before any
        election or get_leader made one)."""
        locks = getattr(self.coordinator, "_leader_locks", None)
        return None if locks is None else locks.get(_b(group))

    def op_is_leader(self, group: str) -> bool:
        """Whether this peer leads `group`: on redis, whether a leader lock it
        won still owns `_tooz_leader_of_<g>_lock` on the server; on zookeeper,
        whether the driver's kazoo lock for `/<ns>/<g>/leader` counts as
        acquired and its contender node is still on the server with our
        identifier; elsewhere, whether it was elected and has not stood down."""
        if self._tracks_leader_locks():
            return any(lock.is_still_owner() for lock in self._leader_locks(group))
        if hasattr(self.coordinator, "_leader_locks"):
            lock = self._kazoo_leader_lock(group)
            if lock is None or not lock.is_acquired or not lock.node:
                return False
            from kazoo.exceptions import NoNodeError

            try:
                data, _ = lock.client.get(lock.path + "/" + lock.node)
            except NoNodeError:
                return False
            return bool(data == lock.data)
        return any(e["group"] == group for e in self.elected) and group in self.election_callbacks

    def op_get_leader(self, group: str) -> str | None:
        """`get_leader(group)`: the leader's member id, or None. On zookeeper
        this is the data of the first contender under `/<ns>/<g>/leader`, and
        (tooz's sharp edge) it creates that node, and the group, if missing."""
        return _text(self.coordinator.get_leader(_b(group)).get())

    def op_stand_down(self, group: str) -> dict[str, Any]:
        """Stops running for `group` and gives leadership up.

        tooz has no stand-down on redis (unwatching keeps the lock until stop()
        or until it expires), so on redis this releases the driver's leader lock
        itself, which is what stop() would do; elsewhere it calls
        `stand_down_group_leader` where the driver has one. Returns
        ``{"unwatched": bool, "released": bool, "how": "leader_lock" |
        "stand_down_group_leader" | "none"}``.
        """
        unwatched = False
        callback = self.election_callbacks.pop(group, None)
        if callback is not None:
            self.coordinator.unwatch_elected_as_leader(_b(group), callback)
            unwatched = True
        if self._tracks_leader_locks():
            released = False
            for lock in self._leader_locks(group):
                released = bool(lock.release()) or released
            return {"unwatched": unwatched, "released": released, "how": "leader_lock"}
        try:
            released = bool(self.coordinator.stand_down_group_leader(_b(group)))
            return {"unwatched": unwatched, "released": released, "how": "stand_down_group_leader"}
        except tooz.NotImplemented:
            return {"unwatched": unwatched, "released": False, "how": "none"}

    # Raw ZooKeeper reads -----------------------------------------------------
    #
    # Through the driver's own kazoo client, so a test can check the znodes
    # swift-tooz writes against the layout Python tooz reads, and say exactly
    # what is on the server when something disagrees.

    def _kazoo(self) -> Any:
        client = getattr(self.coordinator, "_coord", None)
        if client is None or not hasattr(client, "get_children"):
            raise ValueError("raw znode reads need a zookeeper:// peer")
        return client

    def op_zk_children(self, path: str) -> list[str] | None:
        """The sorted child names of `path`, or None when it does not exist."""
        from kazoo.exceptions import NoNodeError

        try:
            return sorted(self._kazoo().get_children(path))
        except NoNodeError:
            return None

    def op_zk_get(self, path: str) -> dict[str, Any] | None:
        """`path`'s data (hex) and stat, or None when it does not exist."""
        from kazoo.exceptions import NoNodeError

        try:
            data, stat = self._kazoo().get(path)
        except NoNodeError:
            return None
        return {
            "data": (data or b"").hex(),
            "czxid": stat.czxid,
            # The owner session id does not survive JSON's doubles: say only whether there is one.
            "ephemeral": stat.ephemeralOwner != 0,
            "num_children": stat.numChildren,
        }

    # Raw memcached reads -----------------------------------------------------
    #
    # With a pymemcache client of our own that keeps the raw bytes and flags, so
    # a test can check the items swift-tooz writes against the layout Python
    # tooz reads (pymemcache's serializer: flags 1 raw bytes, 2 msgpack).

    def _memcached(self) -> Any:
        host = getattr(self.coordinator, "host", None)
        if self.url is None or not self.url.startswith("memcached:") or host is None:
            raise ValueError("raw item reads need a memcached:// peer")
        if self._raw_memcached is None:
            from pymemcache.client.base import Client

            self._raw_memcached = Client(
                host,
                deserializer=lambda key, value, flags: (value, flags),
                timeout=30,
                connect_timeout=30,
                tls_context=getattr(self.coordinator, "ssl_context", None),
            )
        return self._raw_memcached

    def op_memcached_item(self, key: str) -> dict[str, Any] | None:
        """The item `key` as pymemcache's `gets` reads it, or None when missing:
        its value (hex), flags and CAS; `ttl`, the seconds it has left (meta
        `mg <key> t`; -1 for none); and `repr`, the value as the tooz driver's
        deserializer gives it (flags 1: the bytes, 2: oslo msgpack)."""
        client = self._memcached()
        found, cas = client.gets(_b(key))
        if found is None:
            return None
        value, flags = found
        ttl = None
        meta = client.raw_command(b"mg " + _b(key) + b" t")
        for token in meta.split()[1:]:
            if token.startswith(b"t"):
                ttl = int(token[1:])
        if flags == 1:
            decoded: Any = value
        elif flags == 2:
            decoded = utils.loads(value)
        else:
            decoded = None
        return {
            "value": value.hex(),
            "flags": flags,
            "cas": int(cas),
            "ttl": ttl,
            "repr": repr(decoded),
        }

    def op_memcached_delete(self, keys: list[str]) -> list[str]:
        """Deletes the items `keys` (a test's own leftovers that no tooz call
        removes); returns the ones that were there."""
        client = self._memcached()
        return [key for key in keys if client.delete(_b(key), noreply=False)]

    # Raw etcd reads ----------------------------------------------------------
    #
    # Through the driver's own etcd3gw client (etcd's JSON gateway), so a test
    # can check the keys swift-tooz writes over gRPC against the layout Python
    # tooz reads. Keys go to etcd3gw as bytes: a str would be encoded as latin-1.

    def _etcd(self) -> Any:
        client = getattr(self.coordinator, "client", None)
        if self.url is None or not self.url.startswith("etcd3+") or client is None:
            raise ValueError("raw key reads need an etcd3+http:// peer")
        return client

    def op_etcd_get(self, key: str) -> dict[str, Any] | None:
        """The key `key` as the gateway's range reads it, or None when missing:
        its value (hex), its create and mod revisions and version, and the id
        of the lease it rides on (a decimal string; "0" for none)."""
        found = self._etcd().get(_b(key), metadata=True)
        if not found:
            return None
        value, meta = found[0]
        return {
            "value": value.hex(),
            "create_revision": int(meta.get("create_revision", 0)),
            "mod_revision": int(meta.get("mod_revision", 0)),
            "version": int(meta.get("version", 0)),
            # int64 ids do not survive JSON's doubles: kept as text.
            "lease": str(meta.get("lease", "0")),
        }

    def op_etcd_membership_lease(self) -> str:
        """The id of the driver's membership lease, as a decimal string."""
        lease = getattr(self.coordinator, "_membership_lease", None)
        if lease is None:
            raise ValueError("the driver has no membership lease (not an etcd3+http:// peer, or not started)")
        return str(lease.id)

    # Placement -------------------------------------------------------------

    def op_join_partitioned_group(self, group: str, weight: int = 1, partitions: int = 32) -> None:
        self.partitioners[group] = self.coordinator.join_partitioned_group(
            _b(group), weight=weight, partitions=partitions
        )

    def op_partitioner_placement(
        self, group: str, prefix: str, count: int, replicas: int = 1
    ) -> dict[str, Any]:
        # The ring follows the group only inside run_watchers().
        self.coordinator.run_watchers()
        partitioner = self.partitioners[group]
        placement = [
            sorted(_text(m) for m in partitioner.members_for_object(f"{prefix}{i}", replicas=replicas))
            for i in range(count)
        ]
        return {
            "nodes": {_text(n): w for n, w in partitioner.ring.nodes.items()},
            "placement": placement,
        }

    def op_hashring_placement(
        self,
        nodes: dict[str, int],
        prefix: str,
        count: int,
        replicas: int = 1,
        partitions: int = 32,
    ) -> list[list[str]]:
        ring = hashring.HashRing([], partitions=partitions)
        for node, weight in nodes.items():
            ring.add_node(_b(node), weight)
        return [
            sorted(_text(n) for n in ring.get_nodes(_b(f"{prefix}{i}"), replicas=replicas))
            for i in range(count)
        ]


def hello() -> dict[str, Any]:
    from importlib import metadata

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "tooz": metadata.version("tooz"),
        "pid": os.getpid(),
    }
    try:
        import sysv_ipc

        info["sysv_ipc"] = sysv_ipc.VERSION
        info["semaphore_timeout_supported"] = bool(sysv_ipc.SEMAPHORE_TIMEOUT_SUPPORTED)
    except ImportError as exc:
        info["sysv_ipc"] = None
        info["sysv_ipc_error"] = str(exc)
    try:
        info["kazoo"] = metadata.version("kazoo")
    except metadata.PackageNotFoundError:
        info["kazoo"] = None
    return info


def write(message: dict[str, Any]) -> None:
    line = json.dumps(message, separators=(",", ":"))
    with _OUT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def watchdog(peer: Peer, parent: int, deadline: float) -> None:
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            peer.exit_now(3, "the parent process went away")
        if time.monotonic() > deadline:
            peer.exit_now(4, "the time limit ran out")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args()

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s tooz_peer[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    peer = Peer()
    signal.signal(signal.SIGTERM, lambda *_: peer.exit_now(143, "SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: peer.exit_now(130, "SIGINT"))
    threading.Thread(
        target=watchdog,
        args=(peer, os.getppid(), time.monotonic() + args.max_seconds),
        daemon=True,
    ).start()

    write({"id": 0, "ok": True, "result": hello()})
    for line in sys.stdin:
        if not line.strip():
            continue
        ident = None
        try:
            request = json.loads(line)
            ident = request.pop("id", None)
            op = request.pop("op")
            handler = getattr(peer, "op_" + op, None)
            if handler is None:
                raise ValueError(f"unknown op {op!r}")
            result = handler(**request)
            write({"id": ident, "ok": True, "result": result})
            if op == "stop":
                break
        except Exception as exc:
            LOG.debug("request failed: %s", traceback.format_exc())
            if isinstance(exc, tooz.NotImplemented):
                name = "NotImplemented"
            else:
                name = type(exc).__name__
            write({
                "id": ident,
                "ok": False,
                "error": name,
                "message": str(exc),
            })
    peer.exit_now(0, "end of input")


if __name__ == "__main__":
    main()
