// A project: who is here, the task board, meetings, data (uploads, jobs, datasets, analyses)
// and members. Everything updates from the project room's events.
import { get, post, patch, del, upload } from "../api.js";
import { h, replace, field, button, attempt, formData, when, notify } from "../dom.js";
import { presence } from "./presence.js";
import { datasetPanel, analysisResult } from "./data.js";
import { documentsPanel } from "./documents.js";
import { roomEvents } from "../live.js";

const STATUSES = [["todo", "To do"], ["in_progress", "In progress"], ["done", "Done"]];
const PRIORITIES = ["low", "medium", "high", "urgent"];

export async function page(app, projectId) {
  let project;
  try {
    project = await get(`/projects/${projectId}`);
  } catch (err) {
    if (err.status === 404) {
      return replace(app.main, h("h1", {}, "Project not found"),
        h("p", {}, "There is no such project, or you are not one of its members."),
        h("p", {}, h("a", { href: "/" }, "Back to your projects")));
    }
    throw err;
  }
  const room = `project:${projectId}`;
  const isHead = () => project.role === "head" || app.user.role === "admin";
  const state = { members: new Map(), tasks: new Map(), meetings: new Map(), jobs: new Map(), datasets: new Map() };
  const here = presence(app, room);
  app.cleanup(() => here.dispose());

  const title = h("h1", {}, project.name);
  const description = h("p", { class: "muted" }, project.description || "");
  const board = h("div", { class: "board" });
  const meetingList = h("ul", { class: "list", "aria-label": "Meetings" });
  const memberList = h("table", { class: "table", "aria-label": "Members" });
  const jobList = h("ul", { class: "list", "aria-label": "Jobs" });
  const datasetList = h("ul", { class: "list", "aria-label": "Datasets" });
  const analyses = h("div", { class: "results", "aria-label": "Analysis results" });
  const datasetHost = h("div");
  const resultEls = new Map(); // job id -> its rendered result (pictures fetched once)

  // ---- tasks ----
  const memberName = (id) => state.members.get(id)?.name || (id ? "someone" : "nobody");
  const renderBoard = () => replace(board, STATUSES.map(([status, label]) => {
    const tasks = [...state.tasks.values()].filter((t) => t.status === status);
    return h("section", { class: "column", "aria-label": label, dataset: { status } },
      h("h3", {}, `${label} (${tasks.length})`),
      h("ul", {}, tasks.map((t) => h("li", { class: `task ${t.priority}`, dataset: { task: t.id } },
        h("strong", {}, t.title),
        h("small", {}, ` ${t.priority} · ${memberName(t.assignee_id)}${t.due_date ? ` · due ${t.due_date}` : ""}`),
        h("div", { class: "row" },
          field(`Status of ${t.title}`, h("select", {
            onchange: (e) => attempt(() => patch(`/tasks/${t.id}`, { status: e.target.value })),
          }, STATUSES.map(([value, text]) => h("option", { value, selected: value === t.status }, text)))),
          button("Delete", () => attempt(() => del(`/tasks/${t.id}`)), { class: "link", "aria-label": `Delete ${t.title}` }))))));
  }));
  const assignee = h("select", { name: "assignee_id" });
  const taskForm = h("form", { class: "row" },
    field("Task", h("input", { name: "title", required: true, maxlength: 200 })),
    field("Priority", h("select", { name: "priority" }, PRIORITIES.map((p) => h("option", { value: p, selected: p === "medium" }, p)))),
    field("Assignee", assignee),
    h("button", { type: "submit" }, "Add task"));
  taskForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = formData(taskForm);
    if (!body.assignee_id) delete body.assignee_id;
    if (await attempt(() => post(`/projects/${projectId}/tasks`, body))) taskForm.reset();
  });

  // ---- members ----
  const renderMembers = () => {
    replace(assignee, h("option", { value: "" }, "nobody"),
      [...state.members.values()].map((m) => h("option", { value: m.user_id }, m.name || m.email)));
    replace(memberList,
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Email"), h("th", {}, "Role"), isHead() ? h("th", {}, "") : null)),
      h("tbody", {}, [...state.members.values()].map((m) => h("tr", { dataset: { member: m.user_id } },
        h("td", {}, m.name || "(deleted)"), h("td", {}, m.email || ""),
        h("td", {}, isHead() ? field(`Role of ${m.name}`, h("select", {
          onchange: (e) => attempt(() => patch(`/projects/${projectId}/members/${m.user_id}`, { role: e.target.value })),
        }, ["member", "head"].map((r) => h("option", { value: r, selected: r === m.role }, r)))) : m.role),
        isHead() ? h("td", {}, button("Remove", () => attempt(() => del(`/projects/${projectId}/members/${m.user_id}`)),
          { class: "link", "aria-label": `Remove ${m.name}` })) : null))));
    renderBoard();
  };
  const memberError = h("p", { class: "error", role: "alert", hidden: true });
  const memberForm = h("form", { class: "row" },
    field("Add by email", h("input", { name: "email", type: "email", required: true })),
    field("As", h("select", { name: "role" }, h("option", { value: "member" }, "member"), h("option", { value: "head" }, "head"))),
    h("button", { type: "submit" }, "Add member"));
  memberForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    memberError.hidden = true;
    if (await attempt(() => post(`/projects/${projectId}/members`, formData(memberForm)), memberError)) memberForm.reset();
  });

  // ---- meetings ----
  const renderMeetings = () => replace(meetingList, [...state.meetings.values()]
    .filter((m) => m.status !== "cancelled")
    .sort((a, b) => Date.parse(a.scheduled_at) - Date.parse(b.scheduled_at))
    .map((m) => h("li", { dataset: { meeting: m.id } },
      h("a", { href: `/meetings/${m.id}` }, m.title), ` · ${when(m.scheduled_at)} · `,
      h("span", { class: `pill ${m.status}` }, m.status),
      isHead() && m.status === "scheduled" ? button("Start", () => attempt(() => post(`/meetings/${m.id}/start`)), { "aria-label": `Start ${m.title}` }) : null,
      isHead() && m.status === "live" ? button("End", () => attempt(() => post(`/meetings/${m.id}/end`)), { "aria-label": `End ${m.title}` }) : null)));
  const meetingError = h("p", { class: "error", role: "alert", hidden: true });
  const inAnHour = new Date(Date.now() + 3600e3 - new Date().getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
  const meetingForm = h("form", { class: "row" },
    field("Meeting", h("input", { name: "title", required: true, maxlength: 200 })),
    field("When", h("input", { name: "scheduled_at", type: "datetime-local", required: true, value: inAnHour })),
    field("Minutes", h("input", { name: "duration_minutes", type: "number", min: 1, max: 1440, value: 30 })),
    h("button", { type: "submit" }, "Schedule"));
  meetingForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    meetingError.hidden = true;
    const body = formData(meetingForm);
    body.scheduled_at = new Date(body.scheduled_at).toISOString();
    body.duration_minutes = Number(body.duration_minutes);
    if (await attempt(() => post(`/projects/${projectId}/meetings`, body), meetingError)) meetingForm.reset();
  });

  // ---- data ----
  const openDataset = async (id) => {
    const panel = await attempt(() => datasetPanel(app, id, (job) => { state.jobs.set(job.id, job); renderJobs(); }));
    if (panel) {
      replace(datasetHost, panel);
      panel.querySelector("h2")?.focus();
    }
  };
  const renderJobs = () => {
    const jobs = [...state.jobs.values()].sort((a, b) => (Date.parse(b.created_at) || 0) - (Date.parse(a.created_at) || 0));
    replace(jobList, jobs.slice(0, 20).map((j) => h("li", { dataset: { job: j.id, status: j.status } },
      h("span", {}, `${j.kind} · ${j.stage} · `),
      h("progress", { max: 100, value: j.progress ?? 0, "aria-label": `Progress of ${j.kind} job ${j.id.slice(0, 6)}` }),
      h("span", { class: "pct" }, ` ${j.progress ?? 0} %`),
      j.status === "failed" ? h("span", { class: "error" }, ` ${j.error?.message || j.error_message || "failed"}`) : null,
      ["queued", "running"].includes(j.status) ? button("Cancel", () => attempt(() => post(`/jobs/${j.id}/cancel`)), { class: "link" }) : null,
      j.kind === "ingest" && j.status === "succeeded" && j.result?.dataset_id
        ? button("Open dataset", () => openDataset(j.result.dataset_id), { class: "open-dataset" }) : null)));
    replace(analyses, jobs.filter((j) => j.kind === "analysis" && j.status === "succeeded" && j.result)
      .slice(0, 10).map((j) => resultEls.get(j.id) || resultEls.set(j.id, analysisResult(j)).get(j.id)));
  };
  const renderDatasets = () => replace(datasetList, [...state.datasets.values()].map((d) => h("li", {},
    `${d.name} · ${d.rows} rows · ${d.columns.length} columns `,
    button("Open", () => openDataset(d.id), { "aria-label": `Open ${d.name}` }))));
  const fileInput = h("input", { type: "file", name: "file", required: true, accept: ".csv,.tsv,.json,.jsonl,.xlsx,.parquet,.dat,.txt,.h5,.hdf5" });
  const uploadForm = h("form", { class: "row" }, field("Data file", fileInput), h("button", { type: "submit" }, "Upload"));
  uploadForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = fileInput.files[0];
    if (!file) return;
    const accepted = await attempt(() => upload(projectId, file));
    if (accepted) {
      notify(`Uploading ${file.name}: its ingestion is running.`);
      uploadForm.reset();
      if (!state.jobs.has(accepted.job_id)) {
        state.jobs.set(accepted.job_id, { id: accepted.job_id, kind: "ingest", status: "queued", stage: "queued", progress: 0, created_at: new Date().toISOString() });
        renderJobs();
      }
    }
  });

  const documents = documentsPanel(app, projectId, room);
  // Busy while the project's state is read over REST (at the start, and after a history reset).
  const dataPanel = h("section", { class: "panel", "aria-labelledby": "data-h", "aria-busy": "true" },
    h("h2", { id: "data-h" }, "Data"),
    uploadForm, h("h3", {}, "Jobs"), jobList, h("h3", {}, "Datasets"), datasetList, datasetHost,
    h("h3", {}, "Analysis results"), analyses);

  // ---- layout ----
  replace(app.main,
    h("div", { class: "titlebar" }, title, h("span", { class: "pill" }, `you are ${project.role}`)), description,
    h("div", { class: "layout" },
      h("div", { class: "side" }, here.el),
      h("div", { class: "content" },
        h("section", { class: "panel", "aria-labelledby": "tasks-h" }, h("h2", { id: "tasks-h" }, "Tasks"), taskForm, board),
        h("section", { class: "panel", "aria-labelledby": "meetings-h" }, h("h2", { id: "meetings-h" }, "Meetings"),
          isHead() ? [meetingForm, meetingError] : null, meetingList),
        dataPanel,
        h("section", { class: "panel", "aria-labelledby": "documents-h" }, h("h2", { id: "documents-h" }, "Documents"), documents.el),
        h("section", { class: "panel", "aria-labelledby": "members-h" }, h("h2", { id: "members-h" }, "Members"),
          isHead() ? [memberForm, memberError] : null, memberList))));

  // ---- state over REST, then live ----
  const events = roomEvents(app, room);
  const load = () => events.load(async () => {
    dataPanel.setAttribute("aria-busy", "true");
    const [members, tasks, meetings, jobs, datasets] = await Promise.all([
      get(`/projects/${projectId}/members`, { limit: 200 }),
      get(`/projects/${projectId}/tasks`, { limit: 200 }),
      get(`/projects/${projectId}/meetings`, { limit: 200 }),
      get(`/projects/${projectId}/jobs`, { limit: 50 }),
      get(`/projects/${projectId}/datasets`, { limit: 200 }),
    ]);
    state.members = new Map(members.items.map((m) => [m.user_id, m]));
    state.tasks = new Map(tasks.items.map((t) => [t.id, t]));
    state.meetings = new Map(meetings.items.map((m) => [m.id, m]));
    for (const j of jobs.items) state.jobs.set(j.id, { ...j, error: j.error_code ? { code: j.error_code, message: j.error_message } : null });
    state.datasets = new Map(datasets.items.map((d) => [d.id, d]));
    renderMembers(); renderMeetings(); renderJobs(); renderDatasets();
    await documents.load();
  }).finally(() => dataPanel.setAttribute("aria-busy", "false"));
  const on = events.on;
  for (const event of ["task.created", "task.updated"]) on(event, ({ task }) => { state.tasks.set(task.id, task); renderBoard(); });
  on("task.deleted", ({ task }) => { state.tasks.delete(task.id); renderBoard(); });
  for (const event of ["member.added", "member.role_changed"]) on(event, ({ member }) => {
    state.members.set(member.user_id, member);
    if (member.user_id === app.user.id) project.role = member.role;
    renderMembers(); renderMeetings();
  });
  on("member.removed", ({ user_id }) => { state.members.delete(user_id); renderMembers(); });
  for (const event of ["meeting.scheduled", "meeting.changed", "meeting.started", "meeting.ended", "meeting.cancelled"]) {
    on(event, ({ meeting }) => { state.meetings.set(meeting.id, meeting); renderMeetings(); });
  }
  on("meeting.deleted", ({ meeting }) => { state.meetings.delete(meeting.id); renderMeetings(); });
  on("project.updated", ({ project: p }) => { title.textContent = p.name; description.textContent = p.description || ""; });
  let deleted = false; // told once, though a load's events are applied again after it
  on("project.deleted", () => {
    if (deleted) return;
    deleted = true;
    notify("This project was deleted.", "error");
    app.navigate("/");
  });
  for (const event of ["job.progress", "job.completed", "job.failed", "job.cancelled"]) on(event, (e) => {
    const known = state.jobs.get(e.job_id) || { id: e.job_id, created_at: new Date().toISOString() };
    state.jobs.set(e.job_id, { ...known, kind: e.kind, status: e.status, stage: e.stage, progress: e.progress, result: e.result || known.result, error: e.error || known.error });
    renderJobs();
    if (e.kind === "ingest" && e.status === "succeeded" && !state.datasets.has(e.result.dataset_id)) get(`/datasets/${e.result.dataset_id}`).then((d) => { state.datasets.set(d.id, d); renderDatasets(); }).catch(() => {});
  });

  await app.live.join(room, { onJoin: (ack) => here.snapshot(ack.presence), onReset: () => load() });
  app.cleanup(() => app.live.leave(room));
  await load();
}
