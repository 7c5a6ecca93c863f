#!/usr/bin/env python3
"""Turns bench/run's JSON results (OUT/<broker>/<scenario>-<run>.json) into the markdown table of issue 5.

Usage: bench/report.py OUT RUNS. Medians over the runs; the last column compares Gatehouse with the best peer
(> 1.00x means Gatehouse leads). Message loss and errors are shown in the cell; lost QoS 1 messages are bugs.
"""
import json
import os
import statistics
import sys

out, runs = sys.argv[1], int(sys.argv[2])
order = ["gatehouse", "mosquitto", "nats", "aedes"]
names = {"gatehouse": "Gatehouse", "mosquitto": "Mosquitto", "nats": "NATS (MQTT)", "aedes": "Aedes"}
brokers = [b for b in order if os.path.isdir(os.path.join(out, b)) and any(
    f.endswith(".json") and not f.startswith("warmup") for f in os.listdir(os.path.join(out, b)))]


def load(broker, scenario):
    docs = []
    for run in range(1, runs + 1):
        path = os.path.join(out, broker, f"{scenario}-{run}.json")
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        if doc:
            docs.append(doc)
    return docs


def median(docs, key):
    values = []
    for d in docs:
        v = d
        for part in key.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            values.append(v)
    return statistics.median(values) if values else None


def k(v):
    if v is None:
        return None
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def kb(v):
    if v is None:
        return None
    return f"{v / 1024:.1f} KB" if v >= 1024 else f"{v:.0f} B"


def problems(docs):
    lost = sum(d.get("lost", 0) for d in docs)
    dup = sum(d.get("duplicates", 0) for d in docs)
    ooo = sum(d.get("outOfOrder", 0) for d in docs)
    errors = sum(d.get("errors", 0) for d in docs)
    sent = sum(max(d.get("acked", 0), d.get("sent", 0)) for d in docs) or 1
    parts = []
    if lost:
        parts.append(f"lost {lost:,} ({100 * lost / sent:.1f}%)")
    if dup:
        parts.append(f"dup {dup:,}")
    if ooo:
        parts.append(f"out of order {ooo:,}")
    if errors:
        parts.append(f"{errors:,} errors")
    return ", ".join(parts)


# scenario id, label, [(json key, formatter, higher is better)]
rows = [
    ("A", "A fan-in: 100 publishers → 1 subscriber, QoS 0 (msg/s)", [("receivedRate", k, True)]),
    ("A0", "A0 the same, publishers unpaced (open loop): received (msg/s)", [("receivedRate", k, True)]),
    ("B", "B the same at QoS 1, ≤16 unacknowledged per publisher (msg/s)", [("receivedRate", k, True)]),
    ("C", "C 50 pairs, QoS 1, 5,000 msg/s in all: latency p50 / p99 (µs)",
     [("latencyUs.p50", lambda v: f"{v:,.0f}", False), ("latencyUs.p99", lambda v: f"{v:,.0f}", False)]),
    ("Cmax", "Cmax the same 50 pairs unpaced (msg/s)", [("receivedRate", k, True)]),
    ("D", "D fan-out: 1 publisher → 500 subscribers, QoS 0 (deliveries/s)", [("receivedRate", k, True)]),
    ("E", "E idle connections: RSS per connection; connections/s",
     [("brokerRssPerConnectionBytes", kb, False), ("connectRate", k, True)]),
    ("F", "F persistent session offline while QoS 1 messages queue, then drains (msg/s queue / drain)",
     [("queueRate", k, True), ("drainRate", k, True)]),
]

header = "| scenario | " + " | ".join(names[b] for b in brokers) + " | Gatehouse vs best peer |"
print(header)
print("|" + "---|" * (len(brokers) + 2))
cpu_lines = []
for sid, label, metrics in rows:
    cells, medians = [], {}
    for b in brokers:
        docs = load(b, sid)
        values = [median(docs, key) for key, _, _ in metrics]
        medians[b] = values
        if not docs or all(v is None for v in values):
            cells.append("—")
            continue
        text = " / ".join(fmt(v) if v is not None else "?" for v, (_, fmt, _) in zip(values, metrics))
        extra = problems(docs)
        cells.append(text + (f" ({extra})" if extra else ""))
        gen, brk = median(docs, "generatorCpuPercent"), median(docs, "brokerCpuPercent")
        if gen is not None:
            cpu_lines.append(f"{sid:5} {names[b]:12} generator {gen:5.0f}%  broker {brk if brk is not None else float('nan'):5.0f}%")
    ratios = []
    for i, (_, _, higher) in enumerate(metrics):
        gh = medians.get("gatehouse", [None] * len(metrics))[i]
        peers = [medians[b][i] for b in brokers if b != "gatehouse" and medians[b][i]]
        if gh and peers:
            best = max(peers) if higher else min(peers)
            ratios.append(f"{(gh / best if higher else best / gh):.2f}x")
        else:
            ratios.append("—")
    print(f"| {label} | " + " | ".join(cells) + " | " + " / ".join(ratios) + " |")

print()
print(f"Median of {runs} run(s); > 1.00x means Gatehouse leads (for latency and memory: the peer's value over Gatehouse's).")
print("Lost: QoS 0 messages sent and never received, QoS 1 messages acknowledged to the publisher and never received.")
notes_path = os.path.join(out, "notes.txt")
if os.path.exists(notes_path):
    for line in open(notes_path):
        if line.strip():
            print(f"- {line.strip()}")
print()
print("CPU (median, % of one core) during each scenario:")
print("```")
print("\n".join(cpu_lines))
print("```")
