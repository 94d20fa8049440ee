// Who is here now in one room: one entry per person, their tab count and whether they type.
import { h, replace } from "../dom.js";

export function presence(app, room, { label = "Here now" } = {}) {
  const people = new Map(); // user_id -> {user_id, name, status, connections}
  const typing = new Map(); // user_id -> timer
  const list = h("ul", { class: "presence", "aria-label": label });
  const el = h("section", { class: "panel" }, h("h2", {}, label), list);

  const render = () => replace(list, [...people.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((p) => h("li", { dataset: { user: p.user_id } },
      h("span", { class: "dot", "aria-hidden": "true" }), p.name,
      p.user_id === app.user.id ? " (you)" : "",
      p.connections > 1 ? h("span", { class: "tabs" }, ` · ${p.connections} tabs`) : null,
      p.status && p.status !== "online" ? h("span", { class: "status" }, ` · ${p.status}`) : null,
      typing.has(p.user_id) ? h("span", { class: "typing" }, " · typing…") : null)));

  const mine = (fn) => (data) => { if (data?.room === room) fn(data); };
  const stopTyping = (userId) => {
    clearTimeout(typing.get(userId));
    typing.delete(userId);
  };
  const offs = [
    app.live.on("presence:joined", mine(({ user }) => { people.set(user.user_id, user); render(); })),
    app.live.on("presence:updated", mine(({ user }) => { people.set(user.user_id, user); render(); })),
    app.live.on("presence:left", mine(({ user_id }) => { people.delete(user_id); stopTyping(user_id); render(); })),
    app.live.on("presence:typing", mine(({ user_id, typing: on }) => {
      stopTyping(user_id);
      // A typist whose "stopped" never arrives (closed tab) stops showing after a while.
      if (on) typing.set(user_id, setTimeout(() => { typing.delete(user_id); render(); }, 8000));
      render();
    })),
  ];
  return {
    el,
    snapshot(entries) {
      people.clear();
      for (const entry of entries) people.set(entry.user_id, entry);
      render();
    },
    people,
    dispose() { offs.forEach((off) => off()); typing.forEach((t) => clearTimeout(t)); },
  };
}
