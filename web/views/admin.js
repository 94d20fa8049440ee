// The operator page (admins): this server's live socket counts, every process's connections
// and rooms (disconnect a user, announce to everyone), failed jobs (retry), users and API keys.
import { get, post, patch, del } from "../api.js";
import { h, replace, field, button, attempt, formData, when, notify } from "../dom.js";

export async function page(app) {
  if (app.user.role !== "admin") {
    return replace(app.main, h("h1", {}, "Not found"), h("p", {}, "This page is for admins."));
  }
  const counts = h("dl", { class: "metrics", "aria-label": "Live counts", "aria-live": "off" });
  const users = h("table", { class: "table", "aria-label": "Users" });
  const keys = h("table", { class: "table", "aria-label": "API keys" });
  const newKey = h("p", { role: "status" });
  const connections = h("table", { class: "table", "aria-label": "Connections by user" });
  const processes = h("p", { class: "muted" });
  const rooms = h("table", { class: "table", "aria-label": "Rooms" });
  const jobs = h("table", { class: "table", "aria-label": "Failed jobs" });
  const sent = h("p", { role: "status" });
  const names = new Map(); // user id -> name, from the users table
  let previous;

  const tick = async () => {
    const now = await get("/admin/realtime");
    const rate = (name) => previous && now.at > previous.at
      ? ((now[name] - previous[name]) / (now.at - previous.at)).toFixed(1) : "…";
    const endings = Object.entries(now.session_endings).map(([code, n]) => `${code} ${n}`).join(", ") || "none";
    replace(counts, [
      ["Sockets", now.sockets], ["Rooms", now.rooms], ["Presence connections", now.presence_connections],
      ["Events in / s", rate("events_in_total")], ["Events out / s", rate("events_out_total")],
      ["Slow-client disconnects", now.slow_client_disconnects_total], ["Refused events", now.refused_events_total],
      ["Disconnects by reason", endings], ["Outbox pending", now.outbox_pending],
    ].map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", { dataset: { metric: k } }, String(v)))));
    previous = now;
  };
  const loadLive = async () => {
    const [conn, live] = await Promise.all([get("/admin/live/connections", { limit: 200 }), get("/admin/live/rooms", { limit: 200 })]);
    replace(processes, `${conn.sockets} sockets of ${conn.users} users on ${conn.processes.length} process(es)`,
      conn.complete ? "" : " (a process did not answer in time: its sockets are missing)");
    replace(connections, h("thead", {}, h("tr", {}, ["User", "Sockets", "Processes", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, conn.by_user.map((u) => {
        const name = names.get(u.user_id) || u.user_id;
        return h("tr", { dataset: { user: u.user_id } }, h("td", {}, name), h("td", {}, String(u.sockets)),
          h("td", {}, String(u.processes)),
          h("td", {}, button("Disconnect", async () => {
            if (await attempt(() => post(`/admin/live/users/${u.user_id}/disconnect`))) notify(`${name}'s sockets are being closed.`);
          }, { class: "link", "aria-label": `Disconnect ${name}` })));
      })));
    replace(rooms, h("thead", {}, h("tr", {}, ["Room", "Users", "Sockets"].map((c) => h("th", {}, c)))),
      h("tbody", {}, live.rooms.map((r) => h("tr", {}, h("td", {}, h("code", {}, r.room)),
        h("td", {}, String(r.users)), h("td", {}, String(r.sockets))))));
  };
  const loadJobs = async () => {
    const page = await get("/admin/jobs", { status: "failed", limit: 50 });
    replace(jobs, h("thead", {}, h("tr", {}, ["Kind", "Project", "Error", "Created", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, page.items.length ? page.items.map((j) => h("tr", {},
        h("td", {}, j.kind), h("td", {}, h("code", {}, j.project_id || "")),
        h("td", { title: j.error_message || "" }, j.error_code || ""), h("td", {}, when(j.created_at)),
        h("td", {}, button("Retry", async () => {
          if (await attempt(() => post(`/admin/jobs/${j.id}/retry`))) { notify(`Job ${j.kind} queued again.`); loadJobs(); }
        }, { class: "link", "aria-label": `Retry job ${j.id}` })))) : h("tr", {}, h("td", { colspan: 5 }, "No failed jobs."))));
  };
  const announceForm = h("form", { class: "row" },
    field("Message to everyone", h("input", { name: "message", required: true, maxlength: 1000 })),
    field("Level", h("select", { name: "level" }, ["info", "warning", "critical"].map((l) => h("option", { value: l }, l)))),
    h("button", { type: "submit" }, "Announce"));
  announceForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!await attempt(() => post("/admin/live/announcements", formData(announceForm)))) return;
    announceForm.reset();
    replace(sent, "Sent to every connected app.");
  });
  const loadUsers = async () => {
    const page = await get("/admin/users", { limit: 200 });
    for (const u of page.items) names.set(u.id, u.name);
    replace(users, h("thead", {}, h("tr", {}, ["Name", "Email", "Role", "Active", "Created"].map((c) => h("th", {}, c)))),
      h("tbody", {}, page.items.map((u) => h("tr", {},
        h("td", {}, u.name), h("td", {}, u.email),
        h("td", {}, field(`Role of ${u.name}`, h("select", {
          onchange: (e) => attempt(() => patch(`/admin/users/${u.id}`, { role: e.target.value })),
        }, ["member", "admin"].map((r) => h("option", { value: r, selected: r === u.role }, r))))),
        h("td", {}, field(`${u.name} active`, h("input", {
          type: "checkbox", checked: u.active,
          onchange: (e) => attempt(() => patch(`/admin/users/${u.id}`, { active: e.target.checked })),
        }))),
        h("td", {}, when(u.created_at))))));
  };
  const loadKeys = async () => {
    const page = await get("/admin/api-keys", { limit: 200 });
    replace(keys, h("thead", {}, h("tr", {}, ["Name", "Prefix", "Created", "Last used", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, page.items.map((k) => h("tr", {},
        h("td", {}, k.name), h("td", {}, h("code", {}, k.prefix)), h("td", {}, when(k.created_at)),
        h("td", {}, when(k.last_used_at) || "never"),
        h("td", {}, button("Revoke", async () => { await attempt(() => del(`/admin/api-keys/${k.id}`)); loadKeys(); }, { class: "link", "aria-label": `Revoke ${k.name}` }))))));
  };
  const keyForm = h("form", { class: "row" }, field("New API key", h("input", { name: "name", required: true, maxlength: 100 })),
    h("button", { type: "submit" }, "Create key"));
  keyForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const made = await attempt(() => post("/admin/api-keys", formData(keyForm)));
    if (!made) return;
    keyForm.reset();
    replace(newKey, "Copy this key now, it is not shown again: ", h("code", {}, made.key));
    loadKeys();
  });

  replace(app.main, h("h1", {}, "Operator"),
    h("section", { class: "panel" }, h("h2", {}, "This server, live"), counts,
      h("p", { class: "muted" }, "Counts of the process this page reaches, read every 2 seconds.")),
    h("section", { class: "panel" }, h("h2", {}, "Every process, live"), processes,
      h("div", { class: "scroll" }, connections), h("h3", {}, "Rooms"), h("div", { class: "scroll" }, rooms),
      button("Refresh", () => attempt(loadLive), { class: "secondary" })),
    h("section", { class: "panel" }, h("h2", {}, "Announce to everyone"), announceForm, sent),
    h("section", { class: "panel" }, h("h2", {}, "Failed jobs"), h("div", { class: "scroll" }, jobs)),
    h("section", { class: "panel" }, h("h2", {}, "Users"), h("div", { class: "scroll" }, users)),
    h("section", { class: "panel" }, h("h2", {}, "API keys"), keyForm, newKey, h("div", { class: "scroll" }, keys)));
  const timer = setInterval(() => tick().catch(() => {}), 2000);
  const liveTimer = setInterval(() => loadLive().catch(() => {}), 5000);
  app.cleanup(() => { clearInterval(timer); clearInterval(liveTimer); });
  await Promise.all([tick(), loadUsers(), loadKeys(), loadJobs()]);
  await attempt(loadLive);
}
