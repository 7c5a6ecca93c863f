// Interop scenarios for Gatehouse driven by MQTT.js 5.
//
// Usage: node mqtt_client.mjs CASE --url mqtt://H:PORT | ws://H:PORT/mqtt | mqtts://H:PORT | wss://H:PORT/mqtt
//        --prefix TOPIC_PREFIX [--protocol 4|5] [--cafile PEM (trusted for mqtts/wss)]
//
// Prints one JSON object per line: {"check": NAME, "ok": BOOL, ...} for every assertion, then {"result": "ok"}
// and exit 0, or {"result": "fail", ...} and exit 1. Every wait has a deadline; nothing sleeps for a fixed time.
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import mqtt from 'mqtt';

const require = createRequire(import.meta.url);
const TIMEOUT_MS = 10_000;
const failures = [];
const clients = [];
const connections = [];

const { positionals, values: args } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    prefix: { type: 'string' },
    protocol: { type: 'string', default: '5' },
    cafile: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    'jwt-secret': { type: 'string' },
  },
});

function emit(obj) {
  process.stdout.write(JSON.stringify(obj, (_, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString() : v)) + '\n');
}

function check(name, ok, details = {}) {
  emit({ check: name, ok: !!ok, ...details });
  if (!ok) failures.push(name);
}

class Failure extends Error {}

/** Resolves when predicate() is true; rejects after the deadline. Polls, so it waits for a condition. */
async function waitFor(predicate, what, timeoutMs = TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Failure(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Connects a client and records what it receives. Resolves with { client, connack, messages, received, sent }. */
async function connect(name, options = {}) {
  const protocolVersion = Number(options.protocolVersion ?? args.protocol);
  const client = mqtt.connect(args.url, {
    protocolVersion,
    clientId: `${name}-${Math.random().toString(16).slice(2, 10)}`,
    reconnectPeriod: 0,
    connectTimeout: TIMEOUT_MS,
    keepalive: 30,
    ...(args.cafile ? { ca: readFileSync(args.cafile), rejectUnauthorized: true } : {}),
    ...options,
  });
  clients.push(client);
  const c = { name, client, connack: null, messages: [], received: [], sent: [], errors: [] };
  connections.push(c);
  client.on('message', (topic, payload, packet) => {
    c.messages.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain, properties: packet.properties });
  });
  client.on('packetreceive', (packet) => c.received.push(packet));
  client.on('packetsend', (packet) => c.sent.push(packet));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Failure(`${name}: no CONNACK`)), TIMEOUT_MS);
    client.once('connect', (connack) => {
      clearTimeout(timer);
      c.connack = connack;
      resolve();
    });
    client.once('error', (err) => {
      clearTimeout(timer);
      reject(new Failure(`${name}: ${err.message}`));
    });
  });
  client.on('error', (err) => {
    c.errors.push(err.message);
    emit({ client: name, error: err.message, code: err.code });
  });
  return c;
}

async function subscribe(c, filter, options = { qos: 1 }) {
  const granted = await c.client.subscribeAsync(filter, options);
  const codes = granted.map((g) => g.qos);
  if (codes.some((q) => q >= 0x80)) throw new Failure(`${c.name}: SUBSCRIBE ${filter} refused: ${codes}`);
  return codes;
}

function payloads(c, topic) {
  return c.messages.filter((m) => topic === undefined || m.topic === topic).map((m) => m.payload);
}

// -------------------------------------------------------------------------------------------------------------
// Cases

/** An HS256 JWT made with Node's crypto, as a device would. */
function makeJwt(secret, claims) {
  const b64 = (value) => Buffer.from(value).toString('base64url');
  const signingInput = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

/** Connects once with these credentials; resolves 'connected' or the refusing CONNACK's code. */
function connectOutcome(username, password) {
  return new Promise((resolve) => {
    const c = mqtt.connect(args.url, {
      protocolVersion: Number(args.protocol), clientId: `${username}-${Math.random().toString(16).slice(2, 8)}`,
      username, password, reconnectPeriod: 0, connectTimeout: TIMEOUT_MS,
      ...(args.cafile ? { ca: readFileSync(args.cafile), rejectUnauthorized: true } : {}),
    });
    clients.push(c);
    c.once('connect', () => resolve('connected'));
    c.once('error', (err) => resolve(err.code));
  });
}

const cases = {
  /** A JWT as the MQTT password: a valid one connects; an expired one and a wrongly signed one are refused. */
  async jwt() {
    const p = args.prefix;
    const subject = 'jwt-device';
    const secret = args['jwt-secret'];
    const now = Math.floor(Date.now() / 1000);
    const refused = Number(args.protocol) === 5 ? 0x86 : 4;
    const good = await connect(subject, { clientId: `${subject}-${Math.random().toString(16).slice(2, 8)}`, username: subject,
      password: makeJwt(secret, { sub: subject, exp: now + 300 }) });
    check('valid-token-accepted', good.connack !== null);
    await subscribe(good, `${p}/jwt`, { qos: 1 });
    await good.client.publishAsync(`${p}/jwt`, 'signed-in', { qos: 1 });
    await waitFor(() => payloads(good, `${p}/jwt`).includes('signed-in'), 'own message');
    check('token-round-trip', true);
    const expired = await connectOutcome(subject, makeJwt(secret, { sub: subject, exp: now - 3600 }));
    check('expired-token-refused', expired === refused, { code: expired, expected: refused });
    const forged = await connectOutcome(subject, makeJwt(`not-the-${secret}`, { sub: subject, exp: now + 300 }));
    check('wrong-signature-refused', forged === refused, { code: forged, expected: refused });
  },

  /** User name and password: the right ones connect (client id bound to the identity), a wrong one is refused. */
  async auth() {
    const p = args.prefix;
    const rand = () => Math.random().toString(16).slice(2, 8);
    const user = await connect(args.username, { clientId: `${args.username}-${rand()}`, username: args.username, password: args.password });
    check('right-password-accepted', user.connack !== null);
    await subscribe(user, `${p}/auth`, { qos: 1 });
    await user.client.publishAsync(`${p}/auth`, 'authenticated', { qos: 1 });
    await waitFor(() => payloads(user, `${p}/auth`).includes('authenticated'), 'own message');
    check('authenticated-round-trip', true);

    const protocolVersion = Number(args.protocol);
    const code = await new Promise((resolve) => {
      const wrong = mqtt.connect(args.url, {
        protocolVersion, clientId: `${args.username}-${rand()}`, username: args.username, password: `not-${args.password}`,
        reconnectPeriod: 0, connectTimeout: TIMEOUT_MS,
        ...(args.cafile ? { ca: readFileSync(args.cafile), rejectUnauthorized: true } : {}),
      });
      clients.push(wrong);
      wrong.once('connect', () => resolve('connected'));
      wrong.once('error', (err) => resolve(err.code));
    });
    // 5.0: 0x86 Bad User Name or Password; 3.1.1: return code 4.
    const expected = protocolVersion === 5 ? 0x86 : 4;
    check('wrong-password-refused', code === expected, { code, expected });
  },

  /** QoS 0/1/2 in both directions; publishAsync resolves on PUBACK / PUBCOMP. */
  async qos() {
    const p = args.prefix;
    const sub = await connect('sub');
    const pub = await connect('pub');
    const granted = await subscribe(sub, `${p}/qos/#`, { qos: 2 });
    check('suback-granted-qos2', granted[0] === 2, { granted });
    for (const qos of [0, 1, 2]) {
      for (let i = 0; i < 5; i++) await pub.client.publishAsync(`${p}/qos/${qos}`, `m${qos}-${i}`, { qos });
    }
    check('publisher-acks', true);
    await waitFor(() => sub.messages.length >= 15, '15 messages');
    for (const qos of [0, 1, 2]) {
      const got = sub.messages.filter((m) => m.topic === `${p}/qos/${qos}`);
      check(`qos${qos}-delivered-in-order`, JSON.stringify(got.map((m) => m.payload)) === JSON.stringify([0, 1, 2, 3, 4].map((i) => `m${qos}-${i}`)), { got: got.map((m) => m.payload) });
      check(`qos${qos}-granted`, got.every((m) => m.qos === qos), { qos: got.map((m) => m.qos) });
    }
    // QoS downgrade to the subscription's maximum [MQTT-3.8.4-8].
    const low = await connect('low');
    await subscribe(low, `${p}/qos/2`, { qos: 1 });
    await pub.client.publishAsync(`${p}/qos/2`, 'downgraded', { qos: 2 });
    await waitFor(() => low.messages.length >= 1, 'the downgraded message');
    check('qos-downgraded-to-subscription', low.messages[0].qos === 1, { qos: low.messages[0].qos });
  },

  /** $share/g/filter: every message to exactly one member, balanced; a plain subscriber still gets all. */
  async shared() {
    const p = args.prefix;
    const total = 40;
    const a = await connect('member-a');
    const b = await connect('member-b');
    const plain = await connect('plain');
    const pub = await connect('pub');
    check('shared-subscriptions-available', a.connack.properties?.sharedSubscriptionAvailable !== false, { connack: a.connack.properties });
    await subscribe(a, `$share/g/${p}/shared/+`, { qos: 1 });
    await subscribe(b, `$share/g/${p}/shared/+`, { qos: 1 });
    await subscribe(plain, `${p}/shared/+`, { qos: 1 });
    await subscribe(a, `${p}/marker`, { qos: 1 });
    await subscribe(b, `${p}/marker`, { qos: 1 });
    for (let i = 0; i < total; i++) await pub.client.publishAsync(`${p}/shared/t${i % 3}`, `s${i}`, { qos: 1 });
    await waitFor(() => plain.messages.length >= total, `${total} messages at the plain subscriber`);
    await waitFor(() => payloads(a).length + payloads(b).length >= total, `${total} messages across the group`);
    // A marker on a plain topic both members subscribe to: anything sent to a member before it arrives before it.
    await pub.client.publishAsync(`${p}/marker`, 'end', { qos: 1 });
    await waitFor(() => payloads(a, `${p}/marker`).length && payloads(b, `${p}/marker`).length, 'the marker at both members');
    const ga = a.messages.filter((m) => m.topic !== `${p}/marker`).map((m) => m.payload);
    const gb = b.messages.filter((m) => m.topic !== `${p}/marker`).map((m) => m.payload);
    const all = [...ga, ...gb];
    const expected = Array.from({ length: total }, (_, i) => `s${i}`);
    check('group-exactly-once', all.length === total && new Set(all).size === total && expected.every((x) => all.includes(x)),
      { a: ga.length, b: gb.length, duplicates: all.length - new Set(all).size });
    check('group-balanced', ga.length >= total / 4 && gb.length >= total / 4, { a: ga.length, b: gb.length });
    check('plain-subscriber-gets-all', plain.messages.length === total, { count: plain.messages.length });
    check('shared-deliveries-not-retain-flagged', [...a.messages, ...b.messages].every((m) => !m.retain));
  },

  /** A member that goes away with unacknowledged QoS 1 messages: they are redelivered to the other member. */
  async 'shared-redelivery'() {
    const p = args.prefix;
    const total = 6;
    const held = [];
    // The slow member never acknowledges: customHandleAcks never calls back, so MQTT.js also stops reading.
    const slow = await connect('slow', { customHandleAcks: (topic, message, packet, done) => held.push(packet.payload.toString()) });
    const fast = await connect('fast');
    const pub = await connect('pub');
    await subscribe(slow, `$share/rd/${p}/work`, { qos: 1 });
    await subscribe(fast, `$share/rd/${p}/work`, { qos: 1 });
    for (let i = 0; i < total; i++) await pub.client.publishAsync(`${p}/work`, `w${i}`, { qos: 1 });
    await waitFor(() => held.length >= 1, 'a message held unacknowledged by the slow member');
    const slowHeld = [...held];
    // Abrupt close: destroy the socket without DISCONNECT; its session (expiry 0) ends with it.
    slow.client.stream.destroy();
    await waitFor(() => new Set(payloads(fast)).size >= total, `all ${total} messages at the remaining member`);
    const got = payloads(fast);
    check('unacked-redelivered-to-other-member', slowHeld.every((x) => got.includes(x)), { slowHeld, fast: got });
    check('every-message-delivered', Array.from({ length: total }, (_, i) => `w${i}`).every((x) => got.includes(x)), { fast: got });
  },

  /** Client → server topic aliases (MQTT.js autoAssignTopicAlias) and re-mapping an alias. */
  async 'alias-in'() {
    const p = args.prefix;
    const sub = await connect('sub');
    const pub = await connect('pub', { autoAssignTopicAlias: true });
    const max = pub.connack.properties?.topicAliasMaximum ?? 0;
    check('server-topic-alias-maximum', max >= 1, { topicAliasMaximum: max });
    await subscribe(sub, `${p}/alias/+`, { qos: 1 });
    for (let i = 0; i < 4; i++) await pub.client.publishAsync(`${p}/alias/a`, `a${i}`, { qos: 1 });
    // Explicit alias use: map alias 1 to another topic, then publish with an empty topic.
    await pub.client.publishAsync(`${p}/alias/b`, 'b0', { qos: 1, properties: { topicAlias: 1 } });
    await pub.client.publishAsync('', 'b1', { qos: 1, properties: { topicAlias: 1 } });
    await waitFor(() => sub.messages.length >= 6, '6 messages');
    const aliasOnly = pub.sent.filter((x) => x.cmd === 'publish' && x.topic === '' && x.properties?.topicAlias);
    check('client-sent-alias-only-publishes', aliasOnly.length >= 3, { count: aliasOnly.length });
    check('topics-resolved', JSON.stringify(sub.messages.map((m) => `${m.topic.slice(p.length)}=${m.payload}`)) ===
      JSON.stringify(['/alias/a=a0', '/alias/a=a1', '/alias/a=a2', '/alias/a=a3', '/alias/b=b0', '/alias/b=b1']),
      { got: sub.messages.map((m) => `${m.topic}=${m.payload}`) });
    check('no-alias-leaks-to-subscriber', sub.received.filter((x) => x.cmd === 'publish').every((x) => !x.properties?.topicAlias && x.topic !== ''));
  },

  /** Server → client topic aliases when the client allows them; none when it does not [MQTT-3.3.2-9]. */
  async 'alias-out'() {
    const p = args.prefix;
    const sub = await connect('sub', { properties: { topicAliasMaximum: 4 } });
    const noAlias = await connect('no-alias');
    const pub = await connect('pub');
    await subscribe(sub, `${p}/out/+`, { qos: 1 });
    await subscribe(noAlias, `${p}/out/+`, { qos: 1 });
    const sent = [];
    for (let i = 0; i < 8; i++) {
      const topic = `${p}/out/${i % 2 ? 'odd' : 'even'}`;
      sent.push(`${topic}=${i}`);
      await pub.client.publishAsync(topic, `${i}`, { qos: 1 });
    }
    await waitFor(() => sub.messages.length >= 8 && noAlias.messages.length >= 8, '8 messages at both subscribers');
    const raw = sub.received.filter((x) => x.cmd === 'publish');
    const aliased = raw.filter((x) => x.properties?.topicAlias);
    const aliasOnly = raw.filter((x) => x.topic === '' && x.properties?.topicAlias);
    check('server-assigned-aliases', aliased.length >= 1 && aliasOnly.length >= 1, { aliased: aliased.length, aliasOnly: aliasOnly.length });
    check('aliases-within-maximum', aliased.every((x) => x.properties.topicAlias >= 1 && x.properties.topicAlias <= 4),
      { aliases: aliased.map((x) => x.properties.topicAlias) });
    check('aliased-topics-resolved', JSON.stringify(sub.messages.map((m) => `${m.topic}=${m.payload}`)) === JSON.stringify(sent),
      { got: sub.messages.map((m) => `${m.topic}=${m.payload}`) });
    check('no-aliases-when-not-allowed', noAlias.received.filter((x) => x.cmd === 'publish').every((x) => !x.properties?.topicAlias && x.topic !== ''));
    check('no-client-errors', sub.errors.length === 0 && noAlias.errors.length === 0, { errors: [...sub.errors, ...noAlias.errors] });
  },
};

async function main() {
  const name = positionals[0];
  emit({ client: 'mqtt.js', version: require('mqtt/package.json').version, case: name, url: args.url, protocol: args.protocol });
  if (!cases[name] || !args.url || !args.prefix) {
    emit({ result: 'fail', error: `usage: CASE (${Object.keys(cases).join('|')}) --url URL --prefix P` });
    return 2;
  }
  try {
    await cases[name]();
  } catch (err) {
    for (const c of connections) emit({ state: c.name, messages: c.messages.map((m) => `${m.topic}=${m.payload}`), errors: c.errors });
    emit({ result: 'fail', error: err.message, stack: err instanceof Failure ? undefined : err.stack, failed_checks: failures });
    return 1;
  } finally {
    await Promise.allSettled(clients.map((c) => c.endAsync(true)));
  }
  if (failures.length) {
    emit({ result: 'fail', failed_checks: failures });
    return 1;
  }
  emit({ result: 'ok' });
  return 0;
}

process.exitCode = await main();
setTimeout(() => process.exit(process.exitCode), 2000).unref();
