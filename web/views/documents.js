// A project's documents: share a file (the same name again is a new version), download the
// latest version, see an image's or a PDF's preview; kept live by `document.*` events.
import { api, del, get, pictureUrl } from "../api.js";
import { h, replace, field, button, attempt, when } from "../dom.js";
import { roomEvents } from "../live.js";

const PREVIEWED = /^(image\/|application\/pdf)/;

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// The content needs the bearer token, so it is fetched and handed to the browser as a file.
async function download(doc) {
  const blob = await api(`/documents/${doc.id}/content`, { blob: true });
  const link = h("a", { href: URL.createObjectURL(blob), download: doc.name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

export function documentsPanel(app, projectId, room) {
  const docs = new Map();
  const previews = new Map(); // document id -> blob: URL of its preview
  const table = h("table", { class: "table", "aria-label": "Documents" });
  const error = h("p", { class: "error", role: "alert", hidden: true });

  const preview = async (doc) => {
    if (!PREVIEWED.test(doc.content_type) || previews.has(`${doc.id}:${doc.version}`)) return;
    try {
      previews.set(`${doc.id}:${doc.version}`, await pictureUrl(`/api/v1/documents/${doc.id}/preview`));
      render();
    } catch { /* not rendered yet: a job.completed of kind preview comes */ }
  };
  const render = () => replace(table,
    h("thead", {}, h("tr", {}, ["", "Name", "Version", "Size", "Type", "Updated", ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, [...docs.values()].sort((a, b) => `${a.folder}/${a.name}`.localeCompare(`${b.folder}/${b.name}`)).map((d) => {
      const thumb = previews.get(`${d.id}:${d.version}`);
      return h("tr", { dataset: { document: d.id } },
        h("td", {}, thumb ? h("img", { src: thumb, alt: `Preview of ${d.name}`, class: "thumb", width: 48 }) : ""),
        h("td", {}, d.folder ? `${d.folder}/` : "", h("strong", {}, d.name)),
        h("td", {}, `v${d.version}`), h("td", {}, size(d.size)), h("td", {}, d.content_type),
        h("td", {}, when(d.updated_at)),
        h("td", {}, button("Download", () => attempt(() => download(d)), { class: "link", "aria-label": `Download ${d.name}` }),
          button("Delete", () => attempt(() => del(`/documents/${d.id}`)), { class: "link", "aria-label": `Delete ${d.name}` })));
    })));

  const fileInput = h("input", { type: "file", name: "file", required: true });
  const folder = h("input", { name: "folder", maxlength: 200, placeholder: "optional" });
  const form = h("form", { class: "row" }, field("File to share", fileInput), field("Folder", folder),
    h("button", { type: "submit" }, "Share"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const file = fileInput.files[0];
    if (!file) return;
    const body = new FormData();
    body.append("file", file);
    const sent = await attempt(() => api(`/projects/${projectId}/documents`, { method: "POST", form: body, query: { folder: folder.value.trim() } }), error);
    if (sent) form.reset();
  });

  const events = roomEvents(app, room);
  const load = () => events.load(async () => {
    const page = await get(`/projects/${projectId}/documents`, { limit: 200 });
    docs.clear();
    for (const d of page.items) docs.set(d.id, d);
    render();
    page.items.forEach(preview);
  });
  const on = events.on;
  for (const event of ["document.created", "document.updated"]) on(event, ({ document }) => {
    docs.set(document.id, document);
    render();
    preview(document);
  });
  on("document.deleted", ({ document_id }) => { docs.delete(document_id); render(); });
  on("job.completed", (e) => { if (e.kind === "preview") docs.forEach((d) => preview(d)); });
  return { el: h("div", {}, form, error, h("div", { class: "scroll" }, table)), load };
}
