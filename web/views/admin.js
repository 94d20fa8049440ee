// The operator page (admins): this server's live socket counts, users and API keys.
import { get, post, patch, del } from "../api.js";
import { h, replace, field, button, attempt, formData, when } from "../dom.js";

export async function page(app) {
  if (app.user.role !== "admin") {
    return replace(app.main, h("h1", {}, "Not found"), h("p", {}, "This page is for admins."));
  }
  const counts = h("dl", { class: "metrics", "aria-label": "Live counts", "aria-live": "off" });
  const users = h("table", { class: "table", "aria-label": "Users" });
  const keys = h("table", { class: "table", "aria-label": "API keys" });
  const newKey = h("p", { role: "status" });
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
  const loadUsers = async () => {
    const page = await get("/admin/users", { limit: 200 });
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
    h("section", { class: "panel" }, h("h2", {}, "Users"), h("div", { class: "scroll" }, users)),
    h("section", { class: "panel" }, h("h2", {}, "API keys"), keyForm, newKey, h("div", { class: "scroll" }, keys)));
  const timer = setInterval(() => tick().catch(() => {}), 2000);
  app.cleanup(() => clearInterval(timer));
  await Promise.all([tick(), loadUsers(), loadKeys()]);
}
