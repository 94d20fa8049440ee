// The official socket.io-client v4 on its defaults (`io(url, { auth })`: long-polling first)
// against a server that does not serve long-polling; prints what `connect_error` shows, then
// connects again with `tryAllTransports: true`. Usage: node polling_refused.mjs URL TOKEN
import { io } from "socket.io-client";

const [url, token] = process.argv.slice(2);
const out = (line) => console.log(JSON.stringify(line));

const defaults = io(url, { auth: { token }, reconnection: false });
defaults.on("connect_error", (err) => {
  out({
    step: "connect_error",
    message: err.message,
    description: err.description,
    body: err.context?.responseText,
  });
  defaults.close();
  fallBack();
});

function fallBack() {
  const socket = io(url, { auth: { token }, reconnection: false, tryAllTransports: true });
  socket.on("connect", () => {
    out({ step: "connect", transport: socket.io.engine.transport.name });
    socket.close();
  });
  socket.on("connect_error", (err) => {
    out({ step: "fallback_error", message: err.message });
    socket.close();
  });
}
