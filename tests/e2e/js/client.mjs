// Drives the official socket.io-client v4 against a Roomcast server; prints one JSON line per
// step. Usage: node client.mjs URL TOKEN ROOM [default]
// With "default", the client keeps its own transport defaults (long-polling first, then the
// upgrade to WebSocket), as `io(url, { auth })` in Socket.IO's docs.
import { io } from "socket.io-client";

const [url, token, room, mode] = process.argv.slice(2);
const out = (line) => console.log(JSON.stringify(line));
const options = mode === "default" ? { reconnection: false }
  : { transports: ["websocket"], reconnection: false };

const refused = io(url, { ...options, auth: { token: "not-a-token" } });
refused.on("connect_error", (err) => {
  out({ step: "connect_error", message: err.message, data: err.data });
  refused.close();
  run();
});

function run() {
  const socket = io(url, { ...options, auth: { token } });
  socket.onAny((event, data) => {
    out({ step: "event", event, data });
    if (event === "message" && data.text === "hello from python") {
      socket.emitWithAck("message", { room, text: "hello from js" }).then((ack) => {
        out({ step: "message_ack", ack });
        socket.close();
      });
    }
  });
  socket.io.on("open", () => {
    const engine = socket.io.engine;
    out({ step: "open", transport: engine.transport.name });
    engine.on("upgrade", (transport) => out({ step: "upgrade", transport: transport.name }));
  });
  socket.on("connect", async () => {
    const ack = await socket.emitWithAck("join", { room });
    out({ step: "join", ack });
    const unknown = await socket.emitWithAck("no-such-event", {});
    out({ step: "unknown", ack: unknown });
  });
  socket.on("disconnect", (reason) => out({ step: "disconnect", reason }));
}
