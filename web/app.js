// The app shell: routing, the header (connection state, notification bell, account), and the
// signed-in session (token refresh before expiry, on the socket too).
import { refreshTokens, session, get, post } from "./api.js";
import { Live } from "./live.js";
import { h, replace, notify, button } from "./dom.js";
import * as auth from "./views/auth.js";
import * as projects from "./views/projects.js";
import * as project from "./views/project.js";
import * as meeting from "./views/meeting.js";
import * as notifications from "./views/notifications.js";
import * as admin from "./views/admin.js";

const PUBLIC = [
  [/^\/login$/, auth.login],
  [/^\/register$/, auth.register],
  [/^\/forgot-password$/, auth.forgot],
  [/^\/reset-password$/, auth.reset],
  [/^\/verify-email$/, auth.verify],
  [/^\/invitation$/, auth.invitation],
];
const PRIVATE = [
  [/^\/(projects)?$/, projects.list],
  [/^\/projects\/([0-9a-f]{1,64})$/, project.page],
  [/^\/meetings\/([0-9a-f]{1,64})$/, meeting.page],
  [/^\/notifications$/, notifications.page],
  [/^\/admin$/, admin.page],
];

const app = {
  live: null,
  disposers: [],
  main: document.getElementById("main"),
  header: document.getElementById("header"),
  get user() { return session.get()?.user; },
  navigate(path, { replace: swap = false } = {}) {
    if (swap) history.replaceState(null, "", path); else history.pushState(null, "", path);
    route();
  },
  cleanup(fn) { this.disposers.push(fn); },
};

async function route() {
  for (const dispose of app.disposers.splice(0)) {
    try { dispose(); } catch { /* a view already gone */ }
  }
  const path = location.pathname;
  const signedIn = Boolean(session.get());
  if (signedIn) startLive();
  for (const [pattern, view] of PUBLIC) {
    const match = path.match(pattern);
    if (match) return show(view, match);
  }
  if (!signedIn) return app.navigate(`/login?next=${encodeURIComponent(path + location.search)}`, { replace: true });
  startLive();
  for (const [pattern, view] of PRIVATE) {
    const match = path.match(pattern);
    if (match) return show(view, match);
  }
  replace(app.main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "/" }, "Back to your projects")));
}

async function show(view, match) {
  renderHeader();
  replace(app.main);
  app.main.focus({ preventScroll: true });
  try {
    await view(app, ...match.slice(1));
  } catch (err) {
    replace(app.main, h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, err?.readable ? err.readable() : String(err)));
  }
}

// ---- header: connection state, bell, account ----

const STATE_TEXT = { connecting: "Connecting…", connected: "Connected", reconnecting: "Reconnecting…", offline: "Offline" };

function renderHeader() {
  const user = app.user;
  if (!user) return replace(app.header, h("a", { href: "/", class: "brand" }, "Roomcast"));
  if (app.header.dataset.user === user.id) return;
  app.header.dataset.user = user.id;
  const badge = h("span", { id: "connection", class: "badge", role: "status", "aria-live": "polite" });
  const count = h("span", { id: "unread", class: "count", "aria-label": "unread notifications" }, "0");
  replace(app.header,
    h("a", { href: "/", class: "brand" }, "Roomcast"),
    h("nav", { "aria-label": "Main" },
      h("a", { href: "/" }, "Projects"),
      user.role === "admin" ? h("a", { href: "/admin" }, "Operator") : null,
      h("a", { href: "/notifications", id: "bell", class: "bell" }, "Notifications ", count)),
    badge,
    h("span", { class: "who" }, user.name),
    button("Sign out", signOut, { class: "secondary" }));
  app.live.onState((state) => {
    badge.textContent = STATE_TEXT[state] || state;
    badge.dataset.state = state;
  });
  refreshUnread();
}

async function refreshUnread() {
  const count = document.getElementById("unread");
  if (!count) return;
  try {
    const { count: n } = await get("/notifications/unread-count");
    count.textContent = String(n);
    count.dataset.count = String(n);
  } catch { /* shown on the next change */ }
}

// ---- the live connection and the session ----

let refreshTimer;

function startLive() {
  if (app.live) return;
  app.live = new Live();
  const live = app.live;
  let unreadTimer;
  const unread = () => { clearTimeout(unreadTimer); unreadTimer = setTimeout(refreshUnread, 50); };
  for (const event of ["notification", "notification.read", "notification.read_all", "live:connected"]) live.on(event, unread);
  live.on("notification", (n) => notify(`${n.title}${n.body ? `: ${n.body}` : ""}`));
  // One note per reconnection, over every room rejoined.
  let caughtUp = { replayed: 0, reloaded: false, timer: null };
  live.on("live:recovered", ({ replayed, recovered }) => {
    caughtUp.replayed += replayed || 0;
    caughtUp.reloaded ||= recovered === false;
    clearTimeout(caughtUp.timer);
    caughtUp.timer = setTimeout(() => {
      const { replayed: n, reloaded } = caughtUp;
      caughtUp = { replayed: 0, reloaded: false, timer: null };
      const text = reloaded ? "Back online: the server's history did not reach back far enough, so the page was reloaded from the server."
        : n ? `Back online: ${n} missed event${n === 1 ? "" : "s"} caught up.` : "";
      if (!text) return;
      notify(text);
      // The note fades; the connection badge keeps the last one (its tooltip and name).
      const badge = document.getElementById("connection");
      if (badge) badge.title = `${text} (${new Date().toLocaleTimeString()})`;
    }, 300);
  });
  live.on("session:ending", ({ code, message }) => {
    if (code === "disconnected_by_admin") notify("An admin closed this connection: reconnecting…", "error");
    else if (code !== "token_expired") notify(`The server is disconnecting: ${message || code}`, "error");
  });
  live.on("server:announcement", announce);
  live.on("room:revoked", ({ room }) => notify(`You were removed from ${room.split(":")[0]} ${room}.`, "error"));
  live.on("live:signed-out", () => endSession("Your session has ended: please sign in again."));
  scheduleRefresh();
}

// An admin's message to every open app: a banner above the page until dismissed.
function announce({ message, level, at }) {
  const banner = document.getElementById("announcement");
  const time = at ? new Date(at).toLocaleTimeString() : "";
  replace(banner, h("strong", {}, "Announcement"), ` ${time}: ${message} `,
    button("Dismiss", () => { banner.hidden = true; }, { class: "link", "aria-label": "Dismiss the announcement" }));
  banner.dataset.level = level || "info";
  banner.hidden = false;
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const current = session.get();
  if (!current) return;
  // A minute before expiry (or at 80 % of a shorter lifetime).
  const left = current.access_exp - Date.now();
  const wait = Math.max(1000, left > 300000 ? left - 60000 : left * 0.8);
  refreshTimer = setTimeout(async () => {
    try {
      const fresh = await refreshTokens(current.access_token);
      await app.live?.refreshToken(fresh.access_token);
      scheduleRefresh();
    } catch (err) {
      if (err?.status === 401) endSession(err.readable());
      else refreshTimer = setTimeout(scheduleRefresh, 5000);
    }
  }, wait);
}

async function signOut() {
  const current = session.get();
  try {
    await post("/auth/logout", { refresh_token: current?.refresh_token });
  } catch { /* signed out locally either way */ }
  endSession();
}

function endSession(message) {
  session.clear();
  clearTimeout(refreshTimer);
  app.live?.close();
  app.live = null;
  delete app.header.dataset.user;
  if (message) notify(message, "error");
  app.navigate("/login", { replace: true });
}

session.onChange((current) => {
  if (!current) return endSession();
  // Another tab refreshed: use its pair here too.
  if (app.live && app.live.socket.auth.token !== current.access_token) {
    app.live.refreshToken(current.access_token).catch(() => {});
  }
  scheduleRefresh();
});

function signedIn(pair, target) {
  session.save(pair, pair.user);
  const next = target || new URLSearchParams(location.search).get("next");
  app.navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download") || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  e.preventDefault();
  app.navigate(url.pathname + url.search);
});
app.signedIn = signedIn;
app.refreshUnread = refreshUnread;
addEventListener("popstate", route);
route();
