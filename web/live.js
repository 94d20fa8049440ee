// The live connection (docs/protocol.md): one socket per tab, the rooms it is in, the last
// offset processed per room, and rejoining with `since` after a drop.
import { io } from "./vendor/socket.io.esm.min.js";
import { describeError, refreshTokens, session } from "./api.js";

export class LiveError extends Error {
  constructor(error) {
    super(error?.message || "refused");
    this.code = error?.code;
    this.details = error?.details;
  }
  readable() {
    return describeError(this.code, this.message, this.details);
  }
}

export class Live {
  constructor() {
    this.state = "connecting";
    this.offsets = new Map(); // room -> last offset processed
    this.epochs = new Map(); // room -> the epoch those offsets count in
    this.rooms = new Map(); // room -> {status, onReset, onRecovered}
    this.listeners = new Map(); // event -> Set(fn)
    this.stateListeners = new Set();
    this.everConnected = false;
    const current = session.get();
    this.userRoom = `user:${current.user.id}`;
    this.socket = io(location.origin, {
      transports: ["websocket"],
      auth: { token: current.access_token },
      reconnectionDelayMax: 4000,
    });
    this.socket.onAny((event, data) => this.dispatch(event, data));
    this.socket.on("connect", () => this.connected());
    this.socket.on("disconnect", (reason) => this.dropped(reason));
    this.socket.on("connect_error", (err) => this.refused(err));
    this.socket.io.on("reconnect_attempt", () => this.setState(navigator.onLine ? "reconnecting" : "offline"));
    this.socket.on("session:ending", ({ code, message }) => this.emitLocal("session:ending", { code, message }));
    addEventListener("offline", () => this.setState("offline"));
    addEventListener("online", () => { if (!this.socket.connected) this.setState("reconnecting"); });
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    for (const fn of this.stateListeners) fn(state);
  }

  onState(fn) {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  }

  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.listeners.get(event)?.delete(fn);
  }

  emitLocal(event, data) {
    for (const fn of this.listeners.get(event) || []) fn(data, event);
    for (const fn of this.listeners.get("*") || []) fn(data, event);
  }

  // A stored event reaches the views once, in offset order: one already processed (replayed
  // and live at once) is dropped.
  dispatch(event, data) {
    // Removed from the project: the server took the socket out; do not rejoin it later.
    if (event === "room:revoked") this.rooms.delete(data?.room);
    let reset = false;
    if (data && typeof data.offset === "number" && data.room) {
      const epoch = this.epochs.get(data.room);
      // Another epoch: the room's history was reset under us; its offsets start again.
      reset = Boolean(data.epoch && epoch && data.epoch !== epoch);
      const last = reset ? 0 : this.offsets.get(data.room) ?? 0;
      if (data.offset <= last) return;
      this.offsets.set(data.room, data.offset);
      if (data.epoch) this.epochs.set(data.room, data.epoch);
    }
    this.emitLocal(event, data);
    if (reset) this.rooms.get(data.room)?.onReset?.(data);
  }

  async connected() {
    this.setState("connected");
    const rejoin = this.everConnected;
    this.everConnected = true;
    // The socket id before this connection: a rejoin names it, so where its server process
    // died the rooms' presence keeps this user's place instead of a leave and a return.
    this.previousId = this.currentId;
    this.currentId = this.socket.id;
    const rooms = [this.userRoom, ...this.rooms.keys()];
    await Promise.all(rooms.map((room) => this.enter(room, rejoin).catch(() => {})));
    this.emitLocal("live:connected", { rejoin });
  }

  dropped(reason) {
    if (reason === "io client disconnect") return;
    this.setState(navigator.onLine ? "reconnecting" : "offline");
    // The server hung up on purpose (shutdown, token expiry, slow consumer): the client does
    // not retry that on its own.
    if (reason === "io server disconnect") this.retrySoon();
  }

  async refused(err) {
    const code = err?.data?.code;
    if (code === "token_expired") {
      try {
        const fresh = await refreshTokens(this.socket.auth.token);
        this.socket.auth.token = fresh.access_token;
      } catch {
        this.emitLocal("live:signed-out", {});
        return;
      }
    } else if (code === "unauthorized" || code === "token_revoked") {
      this.emitLocal("live:signed-out", {});
      return;
    }
    this.setState(navigator.onLine ? "reconnecting" : "offline");
    if (code) this.retrySoon();
  }

  retrySoon() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.socket.connected) {
        this.socket.auth.token = session.get()?.access_token || this.socket.auth.token;
        this.socket.connect();
      }
    }, 1000 + Math.random() * 1500);
  }

  // Join (or rejoin with `since`) one room. On `recovered: false` the view refetches.
  async enter(room, rejoin) {
    const opts = this.rooms.get(room) || {};
    const payload = { room };
    const last = this.offsets.get(room);
    if (rejoin && last !== undefined) {
      payload.since = last;
      if (this.epochs.has(room)) payload.epoch = this.epochs.get(room);
      if (this.previousId) payload.previous = this.previousId;
    }
    if (opts.status) payload.status = opts.status;
    const ack = await this.socket.timeout(10000).emitWithAck("join", payload);
    if (!ack.ok) throw new LiveError(ack.error);
    // Live events may have arrived before the ack: keep the highest offset seen, unless the
    // room's history was reset (then the ack's offset is where the room now stands).
    const seen = this.offsets.get(room) ?? 0;
    const reset = ack.recovered === false || (last !== undefined && ack.offset < last);
    this.offsets.set(room, reset ? ack.offset : Math.max(seen, ack.offset));
    if (ack.epoch) this.epochs.set(room, ack.epoch);
    if (payload.since !== undefined) {
      this.emitLocal("live:recovered", { room, recovered: ack.recovered, replayed: ack.replayed });
      if (ack.recovered === false) opts.onReset?.(ack);
    }
    opts.onJoin?.(ack);
    return ack;
  }

  // Keep a room for this view: joined now and after every reconnect, left by the disposer.
  async join(room, opts = {}) {
    this.rooms.set(room, opts);
    this.offsets.delete(room);
    this.epochs.delete(room);
    if (!this.socket.connected) return null;
    try {
      return await this.enter(room, false);
    } catch (err) {
      this.rooms.delete(room);
      throw err;
    }
  }

  async leave(room) {
    this.rooms.delete(room);
    this.offsets.delete(room);
    this.epochs.delete(room);
    if (this.socket.connected) await this.call("leave", { room }).catch(() => {});
  }

  // Send an event with its ack; an error ack becomes a LiveError with a readable message.
  async call(event, payload) {
    if (!this.socket.connected) throw new LiveError({ code: "offline", message: "Not connected: not sent. It will work again once reconnected." });
    let ack;
    try {
      ack = await this.socket.timeout(10000).emitWithAck(event, payload);
    } catch {
      throw new LiveError({ code: "timeout", message: "No answer from the server in time." });
    }
    if (!ack.ok) throw new LiveError(ack.error);
    return ack;
  }

  async refreshToken(token) {
    this.socket.auth.token = token;
    if (this.socket.connected) await this.call("auth:refresh", { token });
  }

  close() {
    clearTimeout(this.retryTimer);
    this.socket.disconnect();
  }
}

// A view's handlers for one room's events (`on`) and its reads over REST (`load`). An event that
// arrives while a load is being read is applied again once that load's state is in place: the
// load's reads may have been answered before the event and would otherwise undo it (a dataset
// finished during the page's first read, say, left out until a reload). So a handler may see an
// event twice: it sets state by id, and whatever else it does (a notice, a request) it does once.
export function roomEvents(app, room) {
  const loading = new Set(); // per load in flight: the events applied meanwhile
  return {
    on(event, fn) {
      app.cleanup(app.live.on(event, (data) => {
        if (data?.room !== room) return;
        fn(data);
        for (const seen of loading) seen.push(() => fn(data));
      }));
    },
    async load(fn) {
      const seen = [];
      loading.add(seen);
      try {
        await fn();
      } finally {
        loading.delete(seen);
      }
      for (const again of seen) again();
    },
  };
}
