#!/usr/bin/env python3
"""Assembles the table of scripts/bench/compare from the files of one run (stdlib only).

Usage: compare_report.py RESULTS_DIR [--json FILE] [--meta KEY=VALUE]...

RESULTS_DIR holds, for each round R, backend B and source S, one file named R.B.S.EXT
(R is r1, r2, ...):
  S = raw,      EXT = jsonl: the probe's output, one JSON object per row (scripts/bench/probes);
  S = rawbench, EXT = csv:   redis-benchmark --csv (its PING_MBULK line: a raw-only row beside the
                             probe's PING, which is the ping row's limit);
  S = rawslap,  EXT = jsonl: a second raw probe's rows in the probes' format (mysql: mariadb-slap,
                             probes/mysql_probe.sh), merged into the raw column;
  S = python,   EXT = json:  python_tooz_bench.py --json;
  S = swift,    EXT = json:  tooz bench --json;
  EXT = failed:              that step failed; the file holds why.
Prints the markdown table of medians across rounds (the median of the per-round medians),
then the per-round medians, then what each raw probe measured. --json FILE also writes all of
it (meta, every run's rows, the table, failures) as one JSON object.
"""
import argparse
import json
import os
import re
import statistics
import sys

BACKENDS = ["redis", "zookeeper", "memcached", "etcd", "file", "ipc", "postgres", "mysql"]
SOURCES = ["raw", "python", "swift"]
NAME = re.compile(r"^r(\d+)\.([a-z]+)\.([a-z]+)\.([a-z]+)$")

# (key, title) per backend, in table order.
ROWS = {
    "redis": [
        ("ping", "round trip (PING)"),
        ("ping_benchmark", "round trip (PING), redis-benchmark"),
        ("lock", "lock acquire + release"),
        ("lock_setdel", "lock cycle SET NX PX + DEL"),
        ("handoff", "hand-off (A releases → B holds)"),
        ("join", "group join"),
        ("members", "group members"),
        ("leave", "group leave"),
    ],
    "zookeeper": [
        ("ping", "round trip (exists /)"),
        ("lock", "lock acquire + release"),
        ("handoff", "hand-off (A releases → B holds)"),
        ("join", "group join"),
        ("members", "group members"),
        ("leave", "group leave"),
    ],
    "memcached": [
        ("ping", "round trip (mn; Python: pymemcache version)"),
        ("lock", "lock acquire + release"),
        ("lock_pipelined", "lock cycle as our backend sends it (ms ME + ma in one write, md C)"),
        ("handoff", "hand-off (A releases → B holds)"),
        ("join", "group join"),
        ("members", "group members"),
        ("leave", "group leave"),
    ],
    "etcd": [
        ("ping", "round trip (Range, count only)"),
        ("lock", "lock acquire + release"),
        ("lock_gateway", "tooz-style cycle over the JSON gateway (3 POSTs, wrk)"),
        ("handoff", "hand-off (A releases → B holds)"),
        ("join", "group join"),
        ("members", "group members"),
        ("leave", "group leave"),
    ],
    "file": [
        ("ping", "ping (stat of the directory)"),
        ("lock", "lock acquire + release"),
        ("handoff", "hand-off (A releases → B holds)"),
        ("join", "group join"),
        ("members", "group members"),
        ("leave", "group leave"),
    ],
    "ipc": [
        ("ping", "ping (one System V call)"),
        ("lock", "lock acquire + release"),
        ("lock_tooz", "lock cycle in tooz's layout (create, semop, remove)"),
        ("handoff", "hand-off (A releases → B holds)"),
        ("join", "group join"),
        ("members", "group members"),
        ("leave", "group leave"),
    ],
    "postgres": [
        ("ping", "round trip (SELECT 1)"),
        ("lock", "lock acquire + release"),
        ("lock_connect", "lock cycle on a new connection each (connect, login, lock, unlock; tooz's layout)"),
        ("handoff", "hand-off (A releases → B holds)"),
        ("join", "group join"),
        ("members", "group members"),
        ("leave", "group leave"),
    ],
    "mysql": [
        ("ping", "round trip (SELECT 1)"),
        ("ping_slap", "round trip (SELECT 1), mariadb-slap mean"),
        ("lock", "lock acquire + release"),
        ("lock_slap", "lock cycle GET_LOCK + RELEASE_LOCK on a kept connection, mariadb-slap mean"),
        ("lock_connect", "lock cycle on a new connection each (connect, login, GET_LOCK, RELEASE_LOCK; tooz's layout)"),
        ("lock_connect_slap", "the same on a new connection each, mariadb-slap mean"),
        ("handoff", "hand-off (A releases → B holds)"),
        ("join", "group join"),
        ("members", "group members"),
        ("leave", "group leave"),
    ],
}


def read_raw(path, backend):
    rows = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line.startswith("{"):
                continue
            item = json.loads(line)
            key = item["key"]
            rows[key] = {
                "operation": item["operation"],
                "iterations": item["iterations"],
                "median_us": item["median_us"],
                "p90_us": item.get("p90_us"),
            }
    return rows


def read_redis_benchmark(path):
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip()]
    header = None
    for line in lines:
        fields = [field.strip('"') for field in line.split(",")]
        if fields[0] == "test":
            header = fields
            continue
        if header and fields[0] == "PING_MBULK":
            values = dict(zip(header, fields))
            # A cross-check of the probe's PING (the ping row's limit, measured like the lock rows).
            return {
                "ping_benchmark": {
                    "operation": "redis-benchmark -c 1 -P 1 PING_MBULK (its p50, in 1 µs steps)",
                    "median_us": float(values["p50_latency_ms"]) * 1000,
                    "p95_us": float(values["p95_latency_ms"]) * 1000,
                    "avg_us": float(values["avg_latency_ms"]) * 1000,
                    "rps": float(values["rps"]),
                }
            }
    raise ValueError(f"{path}: no PING_MBULK line")


def read_tooz_json(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    # The object is the last line that parses (nothing else should be on stdout).
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            report = json.loads(line)
            break
    else:
        raise ValueError(f"{path}: no JSON object")
    rows = {}
    for item in report.get("results", []):
        if not item.get("supported", False):
            rows[item["key"]] = {"operation": item.get("operation"), "supported": False, "reason": item.get("reason")}
            continue
        rows[item["key"]] = {
            "operation": item.get("operation"),
            "iterations": item.get("iterations"),
            "median_us": item["median_us"],
            "p90_us": item.get("p90_us"),
        }
    return report, rows


def load(directory):
    runs = {}  # (round, backend, source) -> rows
    details = {}  # (round, backend, source) -> extra (the tool's header fields)
    failures = []
    for name in sorted(os.listdir(directory)):
        match = NAME.match(name)
        if not match:
            continue
        round_, backend, source, ext = int(match.group(1)), match.group(2), match.group(3), match.group(4)
        path = os.path.join(directory, name)
        if ext == "failed":
            with open(path, encoding="utf-8") as handle:
                failures.append({"round": round_, "backend": backend, "source": source, "why": handle.read().strip()})
            continue
        try:
            if source == "raw":
                rows = read_raw(path, backend)
                runs.setdefault((round_, backend, "raw"), {}).update(rows)
            elif source == "rawbench":
                runs.setdefault((round_, backend, "raw"), {}).update(read_redis_benchmark(path))
            elif source == "rawslap":
                runs.setdefault((round_, backend, "raw"), {}).update(read_raw(path, backend))
            elif source in ("python", "swift"):
                report, rows = read_tooz_json(path)
                runs[(round_, backend, source)] = rows
                details[(round_, backend, source)] = {k: v for k, v in report.items() if k != "results"}
        except (ValueError, KeyError, json.JSONDecodeError) as error:
            failures.append({"round": round_, "backend": backend, "source": source, "why": f"unreadable {name}: {error}"})
    return runs, details, failures


def fmt_us(value):
    if value is None:
        return "–"
    if value < 10:
        return f"{value:.2f} µs"
    if value < 100:
        return f"{value:.1f} µs"
    if value < 1000:
        return f"{value:.0f} µs"
    if value < 1_000_000:
        return f"{value / 1000:.2f} ms"
    return f"{value / 1_000_000:.2f} s"


def fmt_ratio(value):
    if value is None:
        return "–"
    if value < 0.1:
        return f"{value:#.2g}"
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def main():
    parser = argparse.ArgumentParser(description="Assembles the table of scripts/bench/compare.")
    parser.add_argument("directory")
    parser.add_argument("--json", dest="json_file")
    parser.add_argument("--meta", action="append", default=[], help="KEY=VALUE, shown above the table and kept in --json")
    args = parser.parse_args()

    meta = {}
    for item in args.meta:
        key, _, value = item.partition("=")
        meta[key] = value
    runs, details, failures = load(args.directory)
    rounds = sorted({r for (r, _, _) in runs} | {f["round"] for f in failures})
    backends = [b for b in BACKENDS if any(b == backend for (_, backend, _) in runs)]

    table = []
    per_round = []
    for backend in backends:
        for key, title in ROWS[backend]:
            cells = {}
            present = False
            for source in SOURCES:
                values = []
                unsupported = None
                for round_ in rounds:
                    row = runs.get((round_, backend, source), {}).get(key)
                    if row is None:
                        values.append(None)
                    elif row.get("supported", True) is False:
                        unsupported = row.get("reason") or "not supported"
                        values.append(None)
                    else:
                        values.append(row["median_us"])
                measured = [v for v in values if v is not None]
                cells[source] = {
                    "median_us": statistics.median(measured) if measured else None,
                    "rounds_us": values,
                    "unsupported": unsupported,
                }
                if measured:
                    present = True
                    per_round.append((backend, title, source, values))
            if not present:
                continue
            raw, python, swift = (cells[s]["median_us"] for s in SOURCES)
            table.append(
                {
                    "backend": backend,
                    "key": key,
                    "operation": title,
                    "raw_us": raw,
                    "python_us": python,
                    "swift_us": swift,
                    "swift_over_python": swift / python if swift and python else None,
                    "limit_over_swift": raw / swift if raw and swift else None,
                    "python_unsupported": cells["python"]["unsupported"],
                    "swift_unsupported": cells["swift"]["unsupported"],
                    "rounds": {s: cells[s]["rounds_us"] for s in SOURCES},
                }
            )

    out = []
    if meta:
        for key, value in meta.items():
            out.append(f"- {key}: {value}")
        out.append("")
    out.append("| backend | operation | raw limit | Python tooz | swift-tooz | swift/Python | limit/swift |")
    out.append("|---|---|---|---|---|---|---|")
    for row in table:
        python = fmt_us(row["python_us"]) if row["python_us"] is not None else ("n/a" if row["python_unsupported"] else "–")
        swift = fmt_us(row["swift_us"]) if row["swift_us"] is not None else ("n/a" if row["swift_unsupported"] else "–")
        out.append(
            f"| {row['backend']} | {row['operation']} | {fmt_us(row['raw_us'])} | {python} | {swift} | "
            f"{fmt_ratio(row['swift_over_python'])} | {fmt_ratio(row['limit_over_swift'])} |"
        )
    out.append("")
    out.append(f"Per-round medians (rounds {', '.join(str(r) for r in rounds)}; the table shows their median):")
    out.append("")
    out.append("| backend | operation | source | " + " | ".join(f"round {r}" for r in rounds) + " |")
    out.append("|---|---|---|" + "---|" * len(rounds))
    for backend, title, source, values in per_round:
        out.append(f"| {backend} | {title} | {source} | " + " | ".join(fmt_us(v) for v in values) + " |")
    out.append("")
    out.append("What each raw limit measured (from the probes' own labels):")
    out.append("")
    for backend in backends:
        labels = {}
        for (round_, b, source), rows in sorted(runs.items()):
            if b == backend and source == "raw":
                for key, row in rows.items():
                    labels.setdefault(key, row.get("operation"))
        described = "; ".join(f"{key}: {labels[key]}" for key, _ in ROWS[backend] if key in labels)
        out.append(f"- {backend}: {described}")
    python_ops = {}
    for (round_, backend, source), rows in runs.items():
        if source == "python" and rows.get("ping", {}).get("supported", True) and rows.get("ping", {}).get("operation"):
            python_ops[backend] = rows["ping"]["operation"]
    if python_ops:
        out.append(
            "- Python's round-trip row is its client library's own call, not a tooz call: "
            + "; ".join(f"{b}: {op}" for b, op in sorted(python_ops.items()))
        )
    if failures:
        out.append("")
        out.append("Failed steps (left out of the medians):")
        for failure in failures:
            out.append(f"- round {failure['round']}, {failure['backend']}, {failure['source']}: {failure['why']}")
    print("\n".join(out))

    if args.json_file:
        document = {
            "meta": meta,
            "table": table,
            "runs": [
                {"round": r, "backend": b, "source": s, "rows": rows, **({"tool": details[(r, b, s)]} if (r, b, s) in details else {})}
                for (r, b, s), rows in sorted(runs.items())
            ],
            "failures": failures,
        }
        with open(args.json_file, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
