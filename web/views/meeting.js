// A live meeting room: presence, chat with history paging, typing, attendance, and for heads
// starting and ending the meeting.
import { get, post } from "../api.js";
import { h, replace, field, button, attempt, when } from "../dom.js";
import { presence } from "./presence.js";

const PAGE = 50;
// Offsets restart when a room's history is reset (a restarted server without Redis), so the
// order shown is the stored time, then the offset among messages of the same millisecond.
const byTime = (a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.offset - b.offset;

export async function page(app, meetingId) {
  let meeting;
  try {
    meeting = await get(`/meetings/${meetingId}`);
  } catch (err) {
    if (err.status === 404) {
      return replace(app.main, h("h1", {}, "Meeting not found"),
        h("p", {}, "There is no such meeting, or you are not a member of its project."),
        h("p", {}, h("a", { href: "/" }, "Back to your projects")));
    }
    throw err;
  }
  const project = await get(`/projects/${meeting.project_id}`);
  const isHead = project.role === "head" || app.user.role === "admin";
  const room = `meeting:${meetingId}`;
  const here = presence(app, room);
  app.cleanup(() => here.dispose());
  const messages = new Map(); // id -> message
  let firstLoaded = 0; // REST offset of the oldest message shown

  const status = h("span", { class: "pill", id: "meeting-status" });
  const controls = h("span", { class: "controls" });
  const log = h("ol", { class: "chat", "aria-label": "Messages", "aria-live": "polite" });
  const earlier = button("Load earlier messages", () => loadEarlier(), { class: "secondary", hidden: true });
  const attendance = h("ul", { class: "list", "aria-label": "Attendance" });
  const sendError = h("p", { class: "error", role: "alert", hidden: true });

  const renderMeeting = () => {
    status.textContent = meeting.status;
    status.className = `pill ${meeting.status}`;
    replace(controls,
      isHead && meeting.status === "scheduled" ? button("Start meeting", () => act("start")) : null,
      isHead && meeting.status === "live" ? button("End meeting", () => act("end")) : null);
  };
  const act = async (what) => {
    const m = await attempt(() => post(`/meetings/${meetingId}/${what}`));
    if (m) { meeting = m; renderMeeting(); }
  };
  const renderLog = () => {
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 30;
    replace(log, [...messages.values()].sort(byTime).map((m) => h("li", { dataset: { id: m.id, offset: m.offset } },
      h("strong", {}, m.user_name || "someone"), " ", h("time", { datetime: m.created_at }, when(m.created_at)),
      h("p", {}, m.text))));
    if (stick) log.scrollTop = log.scrollHeight;
  };
  const add = (list) => { for (const m of list) messages.set(m.id, m); renderLog(); };
  const loadLatest = async () => {
    const head = await get(`/meetings/${meetingId}/messages`, { limit: 1 });
    firstLoaded = Math.max(0, head.total - PAGE);
    const page = await get(`/meetings/${meetingId}/messages`, { limit: PAGE, offset: firstLoaded });
    add(page.items);
    earlier.hidden = firstLoaded === 0;
  };
  const loadEarlier = async () => {
    const from = Math.max(0, firstLoaded - PAGE);
    const page = await attempt(() => get(`/meetings/${meetingId}/messages`, { limit: firstLoaded - from, offset: from }));
    if (!page) return;
    firstLoaded = from;
    add(page.items);
    earlier.hidden = firstLoaded === 0;
  };
  const loadAttendance = async () => {
    const page = await get(`/meetings/${meetingId}/participants`, { limit: 200 });
    replace(attendance, page.items.map((p) => h("li", {}, `${p.name || p.email} · `,
      p.visits ? `${p.visits} visit${p.visits === 1 ? "" : "s"} · first ${when(p.first_joined_at)}` : "not yet")));
  };

  // Typing: say so once, then "stopped" after a pause or on sending.
  const input = h("textarea", { name: "text", rows: 2, maxlength: 4000, required: true });
  let typingTimer;
  let typing = false;
  const setTyping = (on) => {
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(() => setTyping(false), 3000);
    if (typing === on) return;
    typing = on;
    app.live.call("typing", { room, typing: on }).catch(() => {});
  };
  input.addEventListener("input", () => setTyping(input.value.trim() !== ""));
  const form = h("form", { class: "compose" }, field("Message", input), h("button", { type: "submit" }, "Send"));
  const send = async () => {
    const text = input.value.trim();
    if (!text) return;
    sendError.hidden = true;
    setTyping(false);
    const ack = await attempt(() => app.live.call("message", { room, text, client_id: crypto.randomUUID().replace(/-/g, "") }), sendError);
    if (ack) input.value = "";
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); }
  });

  replace(app.main,
    h("p", {}, h("a", { href: `/projects/${project.id}` }, `← ${project.name}`)),
    h("div", { class: "titlebar" }, h("h1", {}, meeting.title), status, controls),
    h("p", { class: "muted" }, `${when(meeting.scheduled_at)} · ${meeting.duration_minutes} minutes${meeting.agenda ? ` · ${meeting.agenda}` : ""}`),
    h("div", { class: "layout" },
      h("div", { class: "side" }, here.el, h("section", { class: "panel" }, h("h2", {}, "Attendance"), attendance)),
      h("section", { class: "content panel", "aria-labelledby": "chat-h" }, h("h2", { id: "chat-h" }, "Chat"), earlier, log, sendError, form)));
  renderMeeting();

  const mine = (fn) => (data) => { if (data?.room === room) fn(data); };
  const on = (event, fn) => app.cleanup(app.live.on(event, mine(fn)));
  on("message", (m) => add([m]));
  for (const event of ["meeting.changed", "meeting.started", "meeting.ended", "meeting.cancelled"]) {
    on(event, (e) => { meeting = e.meeting; renderMeeting(); });
  }
  on("meeting.deleted", () => app.navigate(`/projects/${project.id}`));
  let attendanceTimer;
  const attendanceSoon = () => { clearTimeout(attendanceTimer); attendanceTimer = setTimeout(() => loadAttendance().catch(() => {}), 300); };
  on("presence:joined", attendanceSoon);
  on("presence:left", attendanceSoon);
  app.cleanup(() => { clearTimeout(typingTimer); clearTimeout(attendanceTimer); if (typing) setTyping(false); });

  await app.live.join(room, {
    onJoin: (ack) => here.snapshot(ack.presence),
    onReset: () => { messages.clear(); loadLatest().catch(() => {}); },
  });
  app.cleanup(() => app.live.leave(room));
  await Promise.all([loadLatest(), loadAttendance()]);
}
