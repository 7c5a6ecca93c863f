"""Splits scenario C's per-message latency into generator send, broker and generator reply, from a loopback capture.

Usage: wire_latency_report.py CAPTURE.pcap BROKER_PORT

Reads the pcap file itself (Ethernet or Linux cooked link layer, IPv4, TCP) and finds messages by the bench payload
(src/Gatehouse.Bench/Payload.cs): the marker "GB", the publisher index (uint32), the sequence number (int64) and the
send time in Stopwatch ticks (int64, nanoseconds on Linux), little-endian.
"""
import struct
import sys

MARKER = b"GB"
STALL_LATENCY_US = 400      # a message the broker held longer than this is part of a stall
STALL_GAP_S = 0.005         # slow messages closer together than this belong to the same stall


def packets(path):
    """Yields (time, source port, destination port, TCP payload) for every TCP segment with data."""
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        sys.exit(f"{path}: not a little-endian pcap file")
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
    link = struct.unpack("<I", data[20:24])[0]
    header = {1: 14, 113: 16, 0: 4}.get(link)
    if header is None:
        sys.exit(f"{path}: link type {link} not handled")
    offset = 24
    while offset + 16 <= len(data):
        seconds, fraction, captured, _ = struct.unpack("<IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + captured]
        offset += 16 + captured
        ip = frame[header:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        tcp = ip[(ip[0] & 15) * 4:]
        source, destination = struct.unpack(">HH", tcp[:4])
        body = tcp[(tcp[12] >> 4) * 4:]
        if body:
            yield seconds + fraction * scale, source, destination, body


def stamped(body):
    """Yields (publisher, sequence, stamp) for every bench payload in a segment (one segment may hold several)."""
    at = body.find(MARKER)
    while at >= 0 and at + 22 <= len(body):
        yield struct.unpack("<Iqq", body[at + 2:at + 22])
        at = body.find(MARKER, at + 22)


def percentile(values, fraction):
    return values[min(len(values) - 1, int(fraction * len(values)))]


def line(name, values):
    values = sorted(values)
    print(f"  {name:44s} p50 {percentile(values, .5):6.0f}  p90 {percentile(values, .9):6.0f}"
          f"  p99 {percentile(values, .99):6.0f}  p99.9 {percentile(values, .999):6.0f}")


def main(path, port):
    arrived, left = {}, {}               # (publisher, sequence) -> time in / out; arrived also keeps the stamp
    delivered_to = {}                    # subscriber's port -> time its last PUBLISH left the broker
    replies = []
    for time, source, destination, body in packets(path):
        if destination == port:
            if MARKER in body:
                for publisher, sequence, stamp in stamped(body):
                    arrived.setdefault((publisher, sequence), (time, stamp))
            elif body[0] >> 4 == 4 and source in delivered_to:
                # The subscriber's PUBACK: one PUBLISH per pair every 10 ms, so the first PUBACK after it is its own.
                replies.append((time - delivered_to.pop(source)) * 1e6)
        elif source == port and MARKER in body:
            for publisher, sequence, _ in stamped(body):
                left.setdefault((publisher, sequence), time)
                delivered_to[destination] = time
    matched = sorted((arrived[key][0], arrived[key][1], left[key]) for key in arrived if key in left)
    if not matched:
        sys.exit("wire_latency_report: no PUBLISH pairs matched in the capture")
    # The stamp is a monotonic clock, the capture's the wall clock: the smallest difference is the offset between them.
    offset = min(time_in - stamp * 1e-9 for time_in, stamp, _ in matched)
    print(f"per message, microseconds ({len(matched)} messages):")
    line("generator send (stamp -> PUBLISH in)", [(time_in - stamp * 1e-9 - offset) * 1e6 for time_in, stamp, _ in matched])
    broker = [(time_out - time_in) * 1e6 for time_in, _, time_out in matched]
    line("broker (PUBLISH in -> PUBLISH out)", broker)
    if replies:
        line("generator reply (PUBLISH out -> its PUBACK)", replies)

    stalls, current = [], None
    for (time_in, _, _), latency in zip(matched, broker):
        if latency < STALL_LATENCY_US:
            continue
        if current and time_in - current["last"] < STALL_GAP_S:
            current["last"] = time_in
            current["messages"] += 1
            current["worst"] = max(current["worst"], latency)
        else:
            current = {"first": time_in, "last": time_in, "messages": 1, "worst": latency}
            stalls.append(current)
    held = sum(stall["messages"] for stall in stalls)
    print(f"broker stalls (messages held over {STALL_LATENCY_US} us, grouped): {len(stalls)}, holding {held} messages"
          f" ({100 * held / len(matched):.2f} %)")
    large = [stall for stall in stalls if stall["messages"] >= 5]
    for stall in large[:12]:
        print(f"  at {1000 * (stall['first'] - matched[0][0]):8.1f} ms: {stall['messages']:3d} messages, worst {stall['worst']:6.0f} us")
    if len(large) >= 3:
        gaps = sorted(1000 * (b["first"] - a["first"]) for a, b in zip(large, large[1:]))
        median = percentile(gaps, .5)
        regular = sum(1 for gap in gaps if abs(gap - median) < 0.02 * median or abs(gap - 2 * median) < 0.04 * median)
        if regular >= 0.7 * len(gaps):
            print(f"  recurring: {regular} of {len(gaps)} intervals are {median:.1f} ms (or twice that); look for a periodic"
                  f" thread with `perf sched record -a` / `perf sched timehist`")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
