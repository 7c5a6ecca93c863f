"""Interop scenarios for Gatehouse driven by Eclipse paho-mqtt (Debian's python3-paho-mqtt, 1.5/1.6 callback API).

Usage: /usr/bin/python3 paho_client.py CASE --host H --port P --transport tcp|websockets|tls|wss
           [--cafile PEM] [--protocol 311|5] --prefix TOPIC_PREFIX

Prints one JSON object per line: {"check": NAME, "ok": BOOL, ...} for every assertion, then
{"result": "ok"} and exit 0, or {"result": "fail", ...} and exit 1. Every wait has a deadline.
"""

import argparse
import json
import sys
import threading
import time
import traceback
import uuid

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

TIMEOUT = 10.0
failures = []


def jsonable(value):
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8") if bytes(value).isascii() else "0x" + bytes(value).hex()
        except UnicodeDecodeError:
            return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def emit(obj):
    print(json.dumps(jsonable(obj)), flush=True)


def check(name, ok, **details):
    emit({"check": name, "ok": bool(ok), **details})
    if not ok:
        failures.append(name)


class Failure(Exception):
    pass


class Conn:
    """One paho client with its callbacks turned into waitable state."""

    def __init__(self, args, name, client_id=None, clean=True, session_expiry=None, connect_props=None,
                 username=None, password=None):
        self.args = args
        self._username = username
        self._password = password
        self.name = name
        self.v5 = args.protocol == 5
        self.client_id = client_id or f"{name}-{uuid.uuid4().hex[:8]}"
        self.lock = threading.Condition()
        self.messages = []
        self.acked_mids = set()
        self.subacks = {}
        self.connack = None
        self.disconnected = threading.Event()
        self._clean = clean
        self._session_expiry = session_expiry
        self._connect_props = connect_props or {}
        self._make_client()

    def _make_client(self):
        transport = "websockets" if self.args.transport in ("websockets", "wss") else "tcp"
        if self.v5:
            c = mqtt.Client(client_id=self.client_id, protocol=mqtt.MQTTv5, transport=transport)
        else:
            c = mqtt.Client(client_id=self.client_id, clean_session=self._clean, protocol=mqtt.MQTTv311,
                            transport=transport)
        if transport == "websockets":
            c.ws_set_options(path="/mqtt")
        if self.args.transport in ("tls", "wss"):
            c.tls_set(ca_certs=self.args.cafile)
        if self._username is not None:
            c.username_pw_set(self._username, self._password)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        self.client = c

    # callbacks (paho 1.x API: v5 callbacks get reason codes and properties)
    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.lock:
            self.connack = {"flags": dict(flags), "rc": int(rc.value) if hasattr(rc, "value") else int(rc),
                            "properties": properties}
            self.lock.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append(msg)
            self.lock.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self.lock:
            self.acked_mids.add(mid)
            self.lock.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.lock:
            self.subacks[mid] = [int(g.value) if hasattr(g, "value") else int(g) for g in granted]
            self.lock.notify_all()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.disconnected.set()

    def wait(self, predicate, what, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure(f"{self.name}: timed out waiting for {what}")
                self.lock.wait(left)

    def connect(self, clean_start=None, expect_refusal=False):
        props = None
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            if self._session_expiry is not None:
                props.SessionExpiryInterval = self._session_expiry
            for k, v in self._connect_props.items():
                setattr(props, k, v)
            if not props.json():
                props = None
        with self.lock:
            self.connack = None
        self.disconnected.clear()
        kwargs = {}
        if self.v5:
            kwargs["clean_start"] = self._clean if clean_start is None else clean_start
            kwargs["properties"] = props
        self.client.connect(self.args.host, self.args.port, keepalive=30, **kwargs)
        self.client.loop_start()
        self.wait(lambda: self.connack is not None, "CONNACK")
        if expect_refusal:
            return self.connack
        if self.connack["rc"] != 0:
            raise Failure(f"{self.name}: CONNACK refused: {self.connack}")
        return self.connack

    def subscribe(self, topic, qos=1, no_local=False, rap=False, rh=0, sub_id=None):
        if self.v5:
            props = None
            if sub_id is not None:
                props = Properties(PacketTypes.SUBSCRIBE)
                props.SubscriptionIdentifier = sub_id
            options = SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=rap, retainHandling=rh)
            rc, mid = self.client.subscribe(topic, options=options, properties=props)
        else:
            rc, mid = self.client.subscribe(topic, qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise Failure(f"{self.name}: subscribe call failed rc={rc}")
        self.wait(lambda: mid in self.subacks, f"SUBACK for {topic}")
        return self.subacks[mid]

    def publish(self, topic, payload, qos=1, retain=False, props=None, wait_ack=True):
        properties = None
        if props:
            properties = Properties(PacketTypes.PUBLISH)
            for k, v in props.items():
                setattr(properties, k, v)
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise Failure(f"{self.name}: publish call failed rc={info.rc}")
        if qos > 0 and wait_ack:
            self.wait(lambda: info.mid in self.acked_mids, f"PUBACK/PUBCOMP for mid {info.mid}")
        return info

    def wait_messages(self, count, what=None, topic=None):
        def matching():
            return [m for m in self.messages if topic is None or m.topic == topic]
        self.wait(lambda: len(matching()) >= count, what or f"{count} message(s)")
        return matching()

    def wait_for_payload(self, payload, what):
        self.wait(lambda: any(m.payload == payload for m in self.messages), what)
        return next(i for i, m in enumerate(self.messages) if m.payload == payload)

    def close(self):
        try:
            self.client.disconnect()
            self.disconnected.wait(5)
        finally:
            self.client.loop_stop()


def props_of(msg):
    return getattr(msg, "properties", None)


# ---------------------------------------------------------------------------------------------------------------
# Cases


def case_qos(args):
    """QoS 0/1/2 round trips (publisher acks awaited, QoS preserved), binary payload, retained flag."""
    p = args.prefix
    sub = Conn(args, "sub")
    pub = Conn(args, "pub")
    sub.connect()
    pub.connect()
    granted = sub.subscribe(f"{p}/qos/#", qos=2)
    check("suback-granted-qos2", granted == [2], granted=granted)

    payloads = {0: b"qos0", 1: b"qos1-" + bytes(range(256)), 2: b"qos2-\x00\xff"}
    for qos in (0, 1, 2):
        pub.publish(f"{p}/qos/{qos}", payloads[qos], qos=qos)
    check("publisher-acks", True)
    got = sub.wait_messages(3, "3 messages on the QoS topics")
    check("received-count", len(got) == 3, count=len(got))
    by_topic = {m.topic: m for m in got}
    for qos in (0, 1, 2):
        m = by_topic.get(f"{p}/qos/{qos}")
        check(f"qos{qos}-delivered", m is not None and m.qos == qos and m.payload == payloads[qos],
              qos=m and m.qos, length=m and len(m.payload))

    pub.publish(f"{p}/retained", b"kept", qos=1, retain=True)
    late = Conn(args, "late")
    late.connect()
    late.subscribe(f"{p}/retained", qos=1)
    msgs = late.wait_messages(1, "the retained message")
    check("retained-on-subscribe", msgs[0].payload == b"kept" and msgs[0].retain, retain=msgs[0].retain)
    pub.publish(f"{p}/retained", b"", qos=1, retain=True)  # clean up
    for c in (sub, pub, late):
        c.close()


def case_properties(args):
    """v5 PUBLISH properties forwarded unaltered: user properties in order, content type, payload format,
    message expiry; request/response with response topic and correlation data."""
    p = args.prefix
    user_props = [("a", "1"), ("b", "2"), ("a", "3"), ("\u00fc", "\u2713"), ("empty", "")]
    sub = Conn(args, "sub")
    pub = Conn(args, "pub")
    sub.connect()
    pub.connect()
    sub.subscribe(f"{p}/props", qos=1)
    pub.publish(f"{p}/props", "h\u00e9llo".encode(), qos=1, props={
        "UserProperty": user_props,
        "ContentType": "text/plain; charset=utf-8",
        "PayloadFormatIndicator": 1,
        "MessageExpiryInterval": 120,
    })
    m = sub.wait_messages(1, "the message with properties")[0]
    mp = props_of(m)
    got_user = [tuple(x) for x in getattr(mp, "UserProperty", [])]
    check("user-properties-in-order", got_user == user_props, expected=user_props, actual=got_user)
    check("content-type", getattr(mp, "ContentType", None) == "text/plain; charset=utf-8",
          actual=getattr(mp, "ContentType", None))
    check("payload-format-indicator", getattr(mp, "PayloadFormatIndicator", None) == 1,
          actual=getattr(mp, "PayloadFormatIndicator", None))
    expiry = getattr(mp, "MessageExpiryInterval", None)
    check("message-expiry-forwarded", expiry is not None and 110 <= expiry <= 120, actual=expiry)

    # Request/response: a responder echoes correlation data to the response topic.
    responder = Conn(args, "responder")
    responder.connect()
    responder.subscribe(f"{p}/req", qos=1)

    def respond(client, userdata, msg):
        rp = props_of(msg)
        out = Properties(PacketTypes.PUBLISH)
        out.CorrelationData = rp.CorrelationData
        out.UserProperty = [("handled-by", "responder")]
        client.publish(rp.ResponseTopic, b"re:" + msg.payload, qos=1, properties=out)

    responder.client.on_message = respond
    reply_topic = f"{p}/resp/{uuid.uuid4().hex[:6]}"
    requester = Conn(args, "requester")
    requester.connect()
    requester.subscribe(reply_topic, qos=1)
    correlations = [b"\x00\x01corr-1", b"corr-2\xff", uuid.uuid4().bytes]
    for i, corr in enumerate(correlations):
        requester.publish(f"{p}/req", f"q{i}".encode(), qos=1,
                          props={"ResponseTopic": reply_topic, "CorrelationData": corr})
    replies = requester.wait_messages(3, "3 responses")
    got = {bytes(props_of(r).CorrelationData): r.payload for r in replies}
    expected = {corr: f"re:q{i}".encode() for i, corr in enumerate(correlations)}
    check("request-response-correlation", got == expected, expected=expected, actual=got)
    check("response-user-property", all(
        [tuple(x) for x in props_of(r).UserProperty] == [("handled-by", "responder")] for r in replies))
    for c in (sub, pub, responder, requester):
        c.close()


def case_subscription_options(args):
    """v5 subscription identifiers, No Local, Retain Handling 0/1/2, Retain As Published."""
    p = args.prefix
    a = Conn(args, "ids")
    pub = Conn(args, "pub")
    a.connect()
    pub.connect()
    a.subscribe(f"{p}/sid/+", qos=1, sub_id=7)
    a.subscribe(f"{p}/sid/#", qos=1, sub_id=9)
    pub.publish(f"{p}/sid/x", b"both", qos=1)
    pub.publish(f"{p}/sid/x/y", b"hash-only", qos=1)
    a.wait_for_payload(b"hash-only", "the message matching only the # filter")
    both = [m for m in a.messages if m.payload == b"both"]
    # Overlapping subscriptions: one copy carrying every matching identifier (Gatehouse's documented choice,
    # allowed by [MQTT-3.3.4-3]/[MQTT-3.3.4-5]).
    check("overlap-one-copy", len(both) == 1, copies=len(both))
    ids = sorted(getattr(props_of(both[0]), "SubscriptionIdentifier", []) or []) if both else None
    check("overlap-carries-both-ids", ids == [7, 9], actual=ids)
    single = next(m for m in a.messages if m.payload == b"hash-only")
    check("single-id", list(getattr(props_of(single), "SubscriptionIdentifier", []) or []) == [9],
          actual=getattr(props_of(single), "SubscriptionIdentifier", None))

    # No Local: own messages are not delivered back [MQTT-3.8.3-3].
    nl = Conn(args, "nolocal")
    nl.connect()
    nl.subscribe(f"{p}/nl", qos=1, no_local=True)
    nl.publish(f"{p}/nl", b"own", qos=1)
    pub.publish(f"{p}/nl", b"other", qos=1)
    nl.wait_for_payload(b"other", "the other client's message")
    check("no-local", [m.payload for m in nl.messages] == [b"other"], actual=[m.payload for m in nl.messages])

    # Retain Handling.
    pub.publish(f"{p}/rh", b"retained", qos=1, retain=True)
    r0 = Conn(args, "rh0")
    r0.connect()
    r0.subscribe(f"{p}/rh", qos=1, rh=0)
    r0.wait_for_payload(b"retained", "retained message with Retain Handling 0")
    check("rh0-sends-retained", r0.messages[0].retain, retain=r0.messages[0].retain)
    # Re-subscribing with Retain Handling 1 on an existing subscription sends nothing [MQTT-3.3.1-10].
    r0.subscribe(f"{p}/rh", qos=1, rh=1)
    pub.publish(f"{p}/rh", b"marker-1", qos=1)
    r0.wait_for_payload(b"marker-1", "marker after re-subscribe")
    check("rh1-existing-no-retained", [m.payload for m in r0.messages] == [b"retained", b"marker-1"],
          actual=[m.payload for m in r0.messages])
    # ... but it sends the retained message for a new subscription.
    r1 = Conn(args, "rh1")
    r1.connect()
    r1.subscribe(f"{p}/rh", qos=1, rh=1)
    r1.wait_for_payload(b"retained", "retained message with Retain Handling 1 on a new subscription")
    check("rh1-new-sends-retained", True)
    # Retain Handling 2: never [MQTT-3.3.1-11]. (The broker sends retained messages before the live marker.)
    r2 = Conn(args, "rh2")
    r2.connect()
    r2.subscribe(f"{p}/rh", qos=1, rh=2)
    pub.publish(f"{p}/rh", b"marker-2", qos=1)
    r2.wait_for_payload(b"marker-2", "marker after Retain Handling 2 subscribe")
    check("rh2-no-retained", [m.payload for m in r2.messages] == [b"marker-2"],
          actual=[m.payload for m in r2.messages])

    # Retain As Published [MQTT-3.3.1-12/13].
    rap1 = Conn(args, "rap1")
    rap0 = Conn(args, "rap0")
    rap1.connect()
    rap0.connect()
    rap1.subscribe(f"{p}/rap", qos=1, rap=True)
    rap0.subscribe(f"{p}/rap", qos=1, rap=False)
    pub.publish(f"{p}/rap", b"live-retained", qos=1, retain=True)
    m1 = rap1.wait_messages(1, "live retained message (rap=1)")[0]
    m0 = rap0.wait_messages(1, "live retained message (rap=0)")[0]
    check("rap1-keeps-retain-flag", m1.retain, retain=m1.retain)
    check("rap0-clears-retain-flag", not m0.retain, retain=m0.retain)

    for t in ("rh", "rap"):
        pub.publish(f"{p}/{t}", b"", qos=1, retain=True)
    for c in (a, pub, nl, r0, r1, r2, rap1, rap0):
        c.close()


def case_expiry(args):
    """v5 Message Expiry: expired retained and queued messages are not delivered; forwarded messages carry
    the remaining interval [MQTT-3.3.2-5], [MQTT-3.3.2-6]."""
    p = args.prefix
    pub = Conn(args, "pub")
    pub.connect()
    offline = Conn(args, "offline", clean=True, session_expiry=300)
    offline.connect()
    offline.subscribe(f"{p}/queued", qos=1)
    offline.close()

    pub.publish(f"{p}/exp/short", b"short", qos=1, retain=True, props={"MessageExpiryInterval": 1})
    pub.publish(f"{p}/exp/long", b"long", qos=1, retain=True, props={"MessageExpiryInterval": 100})
    pub.publish(f"{p}/queued", b"q-short", qos=1, props={"MessageExpiryInterval": 1})
    pub.publish(f"{p}/queued", b"q-long", qos=1, props={"MessageExpiryInterval": 100})
    published = time.monotonic()
    # The protocol requires the interval to pass; this is the only timed wait.
    time.sleep(max(0.0, published + 2.2 - time.monotonic()))

    sub = Conn(args, "sub")
    sub.connect()
    sub.subscribe(f"{p}/exp/#", qos=1)
    pub.publish(f"{p}/exp/marker", b"marker", qos=1)
    sub.wait_for_payload(b"marker", "the live marker")
    got = [m.payload for m in sub.messages]
    check("expired-retained-not-sent", b"short" not in got, actual=got)
    long_msgs = [m for m in sub.messages if m.payload == b"long"]
    check("live-retained-sent", len(long_msgs) == 1, actual=got)
    remaining = getattr(props_of(long_msgs[0]), "MessageExpiryInterval", None) if long_msgs else None
    check("retained-remaining-interval", remaining is not None and 90 <= remaining <= 98, actual=remaining)

    back = Conn(args, "offline-again", client_id=offline.client_id, clean=False, session_expiry=300)
    connack = back.connect(clean_start=False)
    check("session-present", connack["flags"].get("session present") == 1, flags=connack["flags"])
    pub.publish(f"{p}/queued", b"q-marker", qos=1)
    back.wait_for_payload(b"q-marker", "the live marker on the resumed session")
    got = [m.payload for m in back.messages]
    check("expired-queued-not-sent", b"q-short" not in got, actual=got)
    check("queued-delivered", got == [b"q-long", b"q-marker"], actual=got)
    q_long = next((m for m in back.messages if m.payload == b"q-long"), None)
    remaining = getattr(props_of(q_long), "MessageExpiryInterval", None) if q_long else None
    check("queued-remaining-interval", remaining is not None and 90 <= remaining <= 98, actual=remaining)
    pub.publish(f"{p}/exp/long", b"", qos=1, retain=True)
    back.close()
    # End the session we left behind.
    end = Conn(args, "offline-end", client_id=offline.client_id, clean=True)
    end.connect(clean_start=True)
    end.close()
    for c in (pub, sub):
        c.close()


def case_session(args):
    """Persistent session: subscription and queued QoS 1/2 messages survive a disconnect; session present."""
    p = args.prefix
    cid = f"persist-{uuid.uuid4().hex[:10]}"
    first = Conn(args, "persist", client_id=cid, clean=False, session_expiry=300)
    connack = first.connect(clean_start=True) if first.v5 else first.connect()
    check("first-session-not-present", connack["flags"].get("session present") == 0, flags=connack["flags"])
    first.subscribe(f"{p}/persist", qos=2)
    first.close()

    pub = Conn(args, "pub")
    pub.connect()
    for i, qos in enumerate((1, 2, 1)):
        pub.publish(f"{p}/persist", f"queued-{i}".encode(), qos=qos)

    again = Conn(args, "persist-again", client_id=cid, clean=False, session_expiry=300)
    connack = again.connect(clean_start=False) if again.v5 else again.connect()
    check("session-present", connack["flags"].get("session present") == 1, flags=connack["flags"])
    msgs = again.wait_messages(3, "3 queued messages")
    got = {m.payload: m.qos for m in msgs}
    check("queued-delivered-with-qos", got == {b"queued-0": 1, b"queued-1": 2, b"queued-2": 1}, actual=got)
    # Order is guaranteed per topic and QoS [MQTT-4.6.0-6]; QoS 1 and 2 may interleave.
    qos1 = [m.payload for m in msgs if m.qos == 1]
    check("queued-qos1-in-order", qos1 == [b"queued-0", b"queued-2"], actual=qos1)
    again.close()

    # Clean start / clean session ends the session: nothing is present afterwards.
    clean = Conn(args, "persist-clean", client_id=cid, clean=True)
    connack = clean.connect(clean_start=True) if clean.v5 else clean.connect()
    check("clean-start-discards", connack["flags"].get("session present") == 0, flags=connack["flags"])
    clean.close()
    pub.close()


def case_auth(args):
    """User name and password: the right ones connect (client id bound to the identity), a wrong one is refused."""
    p = args.prefix
    user = Conn(args, "auth-ok", client_id=f"{args.username}-{uuid.uuid4().hex[:6]}",
                username=args.username, password=args.password)
    connack = user.connect()
    check("right-password-accepted", connack["rc"] == 0, connack=connack["rc"])
    user.subscribe(f"{p}/auth", qos=1)
    user.publish(f"{p}/auth", b"authenticated", qos=1)
    user.wait_for_payload(b"authenticated", "own message")
    check("authenticated-round-trip", True)
    user.close()

    wrong = Conn(args, "auth-wrong", client_id=f"{args.username}-{uuid.uuid4().hex[:6]}",
                 username=args.username, password="not-" + args.password)
    refused = wrong.connect(expect_refusal=True)
    # 5.0: 0x86 Bad User Name or Password; 3.1.1: return code 4.
    expected = 0x86 if args.protocol == 5 else 4
    check("wrong-password-refused", refused["rc"] == expected, rc=refused["rc"], expected=expected)
    wrong.close()


def make_jwt(secret, claims):
    """An HS256 JWT made with the standard library, as a device would."""
    import base64, hashlib, hmac, json as _json

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    signing_input = b64(_json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(_json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


def case_jwt(args):
    """A JWT as the MQTT password: a valid one connects; an expired one and a wrongly signed one are refused."""
    p = args.prefix
    subject = "jwt-device"
    now = int(time.time())
    expected_refusal = 0x86 if args.protocol == 5 else 4

    def attempt(name, token, expect_refusal):
        conn = Conn(args, name, client_id=f"{subject}-{uuid.uuid4().hex[:6]}", username=subject, password=token)
        return conn, conn.connect(expect_refusal=expect_refusal)

    good, connack = attempt("jwt-ok", make_jwt(args.jwt_secret, {"sub": subject, "exp": now + 300}), False)
    check("valid-token-accepted", connack["rc"] == 0, rc=connack["rc"])
    good.subscribe(f"{p}/jwt", qos=1)
    good.publish(f"{p}/jwt", b"signed-in", qos=1)
    good.wait_for_payload(b"signed-in", "own message")
    check("token-round-trip", True)
    good.close()

    expired, connack = attempt("jwt-expired", make_jwt(args.jwt_secret, {"sub": subject, "exp": now - 3600}), True)
    check("expired-token-refused", connack["rc"] == expected_refusal, rc=connack["rc"], expected=expected_refusal)
    expired.close()

    forged, connack = attempt("jwt-forged", make_jwt("not-the-" + args.jwt_secret, {"sub": subject, "exp": now + 300}), True)
    check("wrong-signature-refused", connack["rc"] == expected_refusal, rc=connack["rc"], expected=expected_refusal)
    forged.close()


CASES = {
    "auth": case_auth,
    "jwt": case_jwt,
    "qos": case_qos,
    "properties": case_properties,
    "subscription-options": case_subscription_options,
    "expiry": case_expiry,
    "session": case_session,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--transport", choices=["tcp", "websockets", "tls", "wss"], default="tcp")
    ap.add_argument("--cafile")
    ap.add_argument("--protocol", type=int, choices=[311, 5], default=5)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--username")
    ap.add_argument("--password")
    ap.add_argument("--jwt-secret", dest="jwt_secret")
    args = ap.parse_args()
    emit({"client": "paho-mqtt", "version": paho.mqtt.__version__, "case": args.case,
          "transport": args.transport, "protocol": args.protocol})
    try:
        CASES[args.case](args)
    except Failure as e:
        emit({"result": "fail", "error": str(e), "failed_checks": failures})
        return 1
    except Exception as e:  # noqa: BLE001 - report anything unexpected as a failure with its traceback
        emit({"result": "fail", "error": repr(e), "traceback": traceback.format_exc(), "failed_checks": failures})
        return 1
    if failures:
        emit({"result": "fail", "failed_checks": failures})
        return 1
    emit({"result": "ok"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
