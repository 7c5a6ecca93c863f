// Scenario C measured by a third-party client: MQTT.js publisher/subscriber pairs at QoS 1, paced, each payload
// carrying its send time (process.hrtime, nanoseconds). Prints one JSON line with the latency percentiles in µs.
//
//   node latency-mqttjs.mjs PORT [pairs=50] [rate=5000] [seconds=8] [warmupSeconds=2] [pacing=timer|spin]
//
// pacing=timer sends what is due every millisecond and sleeps in between (as most load generators do); pacing=spin
// re-checks the clock without sleeping, so the client is never asleep when a message comes back.
import mqtt from 'mqtt';

const [port, pairs = 50, rate = 5000, seconds = 8, warmup = 2] = process.argv.slice(2, 7).map(Number);
const pacing = process.argv[7] ?? 'timer';
const url = `mqtt://127.0.0.1:${port}`;
const run = Date.now().toString(36);
const latencies = [];
let received = 0;

const connect = (clientId) => new Promise((resolve, reject) => {
  const client = mqtt.connect(url, { clientId, clean: true, protocolVersion: 4, reconnectPeriod: 0 });
  client.once('connect', () => resolve(client));
  client.once('error', reject);
});

const clients = [];
const publishers = [];
for (let i = 0; i < pairs; i++) {
  const subscriber = await connect(`mqttjs-sub-${run}-${i}`);
  await new Promise((resolve, reject) => subscriber.subscribe(`mqttjs/${run}/${i}`, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
  subscriber.on('message', (_topic, payload) => {
    const now = process.hrtime.bigint();
    received++;
    if (payload.readUInt8(8) === 1) latencies.push(Number(now - payload.readBigUInt64LE(0)) / 1000);
  });
  const publisher = await connect(`mqttjs-pub-${run}-${i}`);
  clients.push(subscriber, publisher);
  publishers.push(publisher);
}

const interval = BigInt(Math.round(1e9 / rate));
const start = process.hrtime.bigint();
const measureFrom = start + BigInt(warmup * 1e9);
const end = measureFrom + BigInt(seconds * 1e9);
let due = start;
let sent = 0;
await new Promise((done) => {
  const tick = () => {
    const now = process.hrtime.bigint();
    while (due <= now && due < end) {
      const payload = Buffer.alloc(64);
      payload.writeBigUInt64LE(process.hrtime.bigint(), 0);
      payload.writeUInt8(due >= measureFrom ? 1 : 0, 8); // only messages due after the warm-up are counted
      publishers[sent % pairs].publish(`mqttjs/${run}/${sent % pairs}`, payload, { qos: 1 });
      sent++;
      due += interval;
    }
    if (due >= end) return setTimeout(done, 1000);
    if (pacing === 'spin') setImmediate(tick); else setTimeout(tick, 1);
  };
  tick();
});

latencies.sort((a, b) => a - b);
const at = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN);
console.log(JSON.stringify({
  sent, received, lost: sent - received, measured: latencies.length,
  p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: Math.round(latencies.at(-1) ?? NaN),
}));
for (const client of clients) client.end(true);
process.exit(sent === received ? 0 : 1);
