// Node's socket.io server with the generic load contract (docs/load.md), on its defaults
// (permessage-deflate off): `join` a room by name (acked), `broadcast` {room, ...} to everyone
// else in that room (acked {ok: true} when the client asks for an ack). Measured beside
// Roomcast by benchmarks/run.py.
//
//   node benchmarks/node/server.js --port 8200
import { Server } from "socket.io";

const at = process.argv.indexOf("--port");
const port = at > 0 ? Number(process.argv[at + 1]) : 8200;
const io = new Server(port, { cors: { origin: "*" } });

function roomName(room) {
  return room !== null && typeof room === "object" ? room.room : room;
}

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    const name = roomName(room);
    const reply = typeof ack === "function" ? ack : () => {};
    if (typeof name !== "string" || name === "") {
      reply({ ok: false, error: "room must be a non-empty string" });
      return;
    }
    socket.join(name);
    reply({ ok: true, room: name });
  });
  socket.on("leave", (room, ack) => {
    const name = String(roomName(room));
    socket.leave(name);
    if (typeof ack === "function") ack({ ok: true, room: name });
  });
  socket.on("broadcast", (data, ack) => {
    const ok = data !== null && typeof data === "object" && typeof data.room === "string";
    if (ok) {
      socket.to(data.room).emit("broadcast", data);
    }
    // Confirmed when asked (the herd scenario counts what the server took as sent).
    if (typeof ack === "function") ack({ ok });
  });
});

const stop = () => io.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
