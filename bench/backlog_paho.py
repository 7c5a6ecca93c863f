"""Scenario F driven by Python's paho-mqtt (1.6, Debian's python3-paho-mqtt) instead of `gatehouse bench`.

A persistent session subscribes to backlog/# at QoS 1 and goes offline; one paho publisher sends COUNT QoS 1 messages
of 64 bytes with at most INFLIGHT unacknowledged, then the session reconnects and receives them. paho keeps Nagle's
algorithm on and runs its network I/O on its own thread, as most paho programs do. MODE "loop" publishes from the main
thread as fast as publish() returns (messages past the window wait in paho's queue); "callback" publishes the next
message from the acknowledgement callback. Prints one JSON line: queue rate, drain rate, the publisher process's CPU
share while queueing (near 100 %: paho was the bottleneck), and lost / duplicate counts.

    /usr/bin/python3 bench/backlog_paho.py PORT COUNT INFLIGHT loop|callback
"""
import json
import struct
import sys
import threading
import time

import paho.mqtt.client as mqtt

port, count, inflight, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
host = "127.0.0.1"


def prepare_session():
    subscribed = threading.Event()
    client = mqtt.Client(client_id="backlog-sub", clean_session=False)
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    client.subscribe("backlog/#", qos=1)
    if not subscribed.wait(10):
        sys.exit("no SUBACK")
    client.disconnect()
    client.loop_stop()


def queue():
    acknowledged = 0
    sent = 0
    finished = threading.Event()
    lock = threading.Lock()
    publisher = mqtt.Client(client_id="backlog-pub", clean_session=True)
    # In callback mode the callback sends before paho has counted the acknowledged message out of its window.
    publisher.max_inflight_messages_set(inflight + (1 if mode == "callback" else 0))
    publisher.max_queued_messages_set(0)

    def payload(sequence):
        return struct.pack(">Q", sequence) + bytes(56)

    def on_publish(client, userdata, mid):
        nonlocal acknowledged, sent
        with lock:
            acknowledged += 1
            done = acknowledged == count
            send = mode == "callback" and sent < count
            if send:
                sent += 1
                sequence = sent
        if send:
            client.publish("backlog/t", payload(sequence), qos=1)
        if done:
            finished.set()

    publisher.on_publish = on_publish
    publisher.connect(host, port)
    publisher.loop_start()
    time.sleep(0.2)
    started, cpu_started = time.perf_counter(), time.process_time()
    first = count if mode == "loop" else min(inflight, count)
    for _ in range(first):
        with lock:
            sent += 1
            sequence = sent
        publisher.publish("backlog/t", payload(sequence), qos=1)
    if not finished.wait(300):
        sys.exit(f"only {acknowledged} of {count} acknowledged")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    publisher.disconnect()
    publisher.loop_stop()
    return count / elapsed, 100 * cpu / elapsed


def drain():
    seen = set()
    duplicates = 0
    finished = threading.Event()

    def on_message(client, userdata, message):
        nonlocal duplicates
        sequence = struct.unpack(">Q", message.payload[:8])[0]
        if sequence in seen:
            duplicates += 1
        seen.add(sequence)
        if len(seen) == count:
            finished.set()

    subscriber = mqtt.Client(client_id="backlog-sub", clean_session=False)
    subscriber.on_message = on_message
    started = time.perf_counter()
    subscriber.connect(host, port)
    subscriber.loop_start()
    finished.wait(120)
    elapsed = time.perf_counter() - started
    subscriber.disconnect()
    subscriber.loop_stop()
    return len(seen) / elapsed, count - len(seen), duplicates


prepare_session()
queue_rate, publisher_cpu = queue()
drain_rate, lost, duplicates = drain()
print(json.dumps({"queue": round(queue_rate), "drain": round(drain_rate), "publisher_cpu": round(publisher_cpu),
                  "lost": lost, "dup": duplicates}))
