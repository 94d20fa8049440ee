// The official socket.io-client, driven by benchmarks/polling_cost.py; prints one JSON line.
//   node polling_cost.mjs connect URL TOKEN default|websocket COUNT
//     COUNT clients one after another: the time to `connect` (and, on the client's defaults,
//     to the end of the upgrade to WebSocket), then all of them close.
//   node polling_cost.mjs fanout URL TOKEN ROOM polling|websocket COUNT RATE SECONDS
//     COUNT clients on one transport join ROOM; one more (WebSocket) sends RATE messages a
//     second for SECONDS; every client times each message from its send to its arrival.
import { performance } from "node:perf_hooks";
import { io } from "socket.io-client";

const [mode, url, token, ...rest] = process.argv.slice(2);
const client = (transports) => io(url, {
  auth: { token }, reconnection: false, forceNew: true,
  ...(transports === "default" ? {} : { transports: [transports] }),
});

function opened(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

function upgraded(socket) {
  return new Promise((resolve) => {
    const engine = socket.io.engine;
    if (engine.transport.name === "websocket") resolve();
    else engine.once("upgrade", () => resolve());
  });
}

async function connect(transports, count) {
  const connectMs = [], upgradeMs = [], sockets = [];
  let upgradedFirst = 0; // on WebSocket already when `connect` fired
  for (let n = 0; n < count; n++) {
    const began = performance.now();
    const socket = client(transports);
    sockets.push(socket);
    await opened(socket);
    connectMs.push(performance.now() - began);
    if (transports === "default") {
      if (socket.io.engine.transport.name === "websocket") upgradedFirst++;
      await upgraded(socket);
      upgradeMs.push(performance.now() - began);
    }
  }
  sockets.forEach((socket) => socket.close());
  return { connect_ms: connectMs, upgrade_ms: upgradeMs, upgraded_first: upgradedFirst };
}

async function fanout(room, transports, count, rate, seconds) {
  const latencies = [];
  const receivers = [];
  for (let n = 0; n < count; n += 20) {
    const batch = Array.from({ length: Math.min(20, count - n) }, () => client(transports));
    await Promise.all(batch.map(opened));
    receivers.push(...batch);
  }
  await Promise.all(receivers.map((socket) => socket.emitWithAck("join", { room })));
  let arrived = 0;
  const disconnects = {}; // reason -> count: a client dropped midway delivers no more
  for (const socket of receivers) {
    socket.on("disconnect", (reason) => { disconnects[reason] = (disconnects[reason] || 0) + 1; });
    socket.on("message", (data) => {
      latencies.push(performance.now() - Number(data.text));
      arrived++;
    });
  }
  const sender = client("websocket");
  await opened(sender);
  await sender.emitWithAck("join", { room });
  const total = Math.round(rate * seconds);
  const began = performance.now();
  for (let n = 0; n < total; n++) {
    const due = began + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    sender.emit("message", { room, text: String(performance.now()) });
  }
  const expected = total * count;
  const deadline = performance.now() + 15000;
  while (arrived < expected && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const span = (performance.now() - began) / 1000;
  const dropped = { ...disconnects };
  sender.close();
  receivers.forEach((socket) => socket.close());
  return { expected, delivered: arrived, span_s: span, latency_ms: latencies, dropped };
}

const result = mode === "connect"
  ? await connect(rest[0], Number(rest[1]))
  : await fanout(rest[0], rest[1], Number(rest[2]), Number(rest[3]), Number(rest[4]));
// Exit once the line is written: a pipe takes it in parts, and exiting earlier cuts it short.
process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
