// The notification list: newest first, mark one or all read (every tab follows).
import { get, post } from "../api.js";
import { h, replace, button, attempt, when } from "../dom.js";

const LINKS = {
  project: (d) => d.project_id && `/projects/${d.project_id}`,
  meeting: (d) => d.meeting_id && `/meetings/${d.meeting_id}`,
};

export async function page(app) {
  const list = h("ul", { class: "list notifications", "aria-label": "Notifications" });
  const items = new Map();
  const render = () => replace(list, [...items.values()].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at)).map((n) => {
    const href = LINKS.meeting(n.data || {}) || LINKS.project(n.data || {});
    return h("li", { class: n.read ? "read" : "unread", dataset: { id: n.id } },
      h("strong", {}, href ? h("a", { href }, n.title) : n.title),
      n.body ? h("p", {}, n.body) : null,
      h("small", {}, `${when(n.created_at)} · ${n.kind}`),
      n.read ? null : button("Mark read", () => attempt(() => post(`/notifications/${n.id}/read`)), { class: "link", "aria-label": `Mark read: ${n.title}` }));
  }));
  const load = async () => {
    const page = await get("/notifications", { limit: 100 });
    items.clear();
    for (const n of page.items) items.set(n.id, n);
    render();
  };
  replace(app.main, h("div", { class: "titlebar" }, h("h1", {}, "Notifications"),
    button("Mark all read", () => attempt(() => post("/notifications/read-all")), { class: "secondary" })), list);
  const on = (event, fn) => app.cleanup(app.live.on(event, fn));
  on("notification", (n) => { items.set(n.id, n); render(); });
  on("notification.read", ({ notification_id }) => { const n = items.get(notification_id); if (n) { n.read = true; render(); } });
  on("notification.read_all", () => { for (const n of items.values()) n.read = true; render(); });
  on("live:connected", ({ rejoin }) => { if (rejoin) load().catch(() => {}); });
  await load();
}
