// A dataset's statistics and rows (edited as Records), starting an analysis, and an analysis
// result with its pictures (fetched with the bearer token, shown as blob: URLs).
import { get, post, pictureUrl, patchFrom, delFrom } from "../api.js";
import { h, replace, field, attempt, button } from "../dom.js";

const NUMERIC = new Set(["integer", "float"]);
let algorithms;

const fmt = (v) => (typeof v === "number" ? String(Number(v.toPrecision(5))) : v ?? "");

export async function datasetPanel(app, datasetId, onJob) {
  const [dataset, records] = await Promise.all([get(`/datasets/${datasetId}`), get(`/datasets/${datasetId}/records`, { limit: 10 })]);
  algorithms ??= (await get("/ml/algorithms")).algorithms;
  const stats = h("table", { class: "table", "aria-label": "Column statistics" },
    h("thead", {}, h("tr", {}, ["Column", "Type", "Count", "Nulls", "Distinct", "Min", "Max", "Mean", "Std"].map((c) => h("th", {}, c)))),
    h("tbody", {}, dataset.columns.map((c) => h("tr", {},
      h("td", {}, c.name), h("td", {}, c.type + (c.categorical ? " (categorical)" : "")),
      [c.stats.count, c.stats.nulls, c.stats.distinct, c.stats.min, c.stats.max, c.stats.mean, c.stats.std].map((v) => h("td", {}, fmt(v)))))));
  const rows = recordsPart(app, dataset, records);

  const numeric = dataset.columns.filter((c) => NUMERIC.has(c.type));
  const algorithm = h("select", { name: "algorithm" }, algorithms.map((a) => h("option", { value: a.name }, a.title || a.name)));
  const target = h("select", { name: "target" }, dataset.columns.map((c) => h("option", { value: c.name }, c.name)));
  const targetField = field("Target", target);
  const k = h("input", { name: "k", type: "number", min: 2, max: 50, value: 3 });
  const kField = field("Clusters (k)", k);
  const features = h("fieldset", { class: "features" }, h("legend", {}, "Features"),
    numeric.map((c) => h("label", {}, h("input", { type: "checkbox", value: c.name, checked: true }), ` ${c.name}`)));
  const sync = () => {
    const spec = algorithms.find((a) => a.name === algorithm.value);
    targetField.hidden = !spec?.needs_target;
    kField.hidden = algorithm.value !== "kmeans";
  };
  algorithm.addEventListener("change", sync);
  sync();
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h("form", { class: "stack" }, h("div", { class: "row" }, field("Algorithm", algorithm), kField, targetField), features, error,
    h("button", { type: "submit" }, "Run analysis"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const spec = algorithms.find((a) => a.name === algorithm.value);
    const body = { algorithm: algorithm.value };
    body.features = [...features.querySelectorAll("input:checked")].map((i) => i.value).filter((f) => !(spec.needs_target && f === target.value));
    if (spec.needs_target) body.target = target.value;
    if (algorithm.value === "kmeans") body.k = Number(k.value);
    const accepted = await attempt(() => post(`/datasets/${datasetId}/analyses`, body), error);
    if (accepted) onJob({ id: accepted.job_id, kind: "analysis", status: "queued", stage: "queued", progress: 0, created_at: new Date().toISOString() });
  });
  const charts = chartsPart(app, dataset);
  return h("section", { class: "dataset", "aria-label": `Dataset ${dataset.name}` },
    h("h2", { tabindex: "-1" }, `Dataset: ${dataset.name}`),
    h("p", {}, `${dataset.rows} rows · ${dataset.columns.length} columns · ${dataset.format}`),
    h("h3", {}, "Statistics"), h("div", { class: "scroll" }, stats),
    h("h3", {}, "First rows"), rows,
    h("h3", {}, "Analyse"), form,
    h("h3", {}, "Charts"), charts);
}

// A cell's text as its column's JSON value (docs/rest.md, "Values"); empty clears it.
function valueOf(column, text) {
  const t = text.trim();
  if (t === "") return null;
  if (column.type === "integer" && /^-?\d+$/.test(t)) return Number(t);
  if (column.type === "float" && t !== "" && !Number.isNaN(Number(t))) return Number(t);
  if (column.type === "boolean" && (t === "true" || t === "false")) return t === "true";
  return t; // the server says which value does not fit (422 invalid_record)
}

// The first rows as Records: edit a row (from its version, If-Match), add and delete rows. A
// change another member stored first is refused (409 version_conflict): the row shows its
// current values and the message says so. Other members' changes (record.*) reload the rows,
// after the row being edited here is saved or cancelled.
function recordsPart(app, dataset, first) {
  const { columns } = dataset;
  const base = `/datasets/${dataset.id}/records`;
  const table = h("table", { class: "table", "aria-label": "Rows" });
  const message = h("p", { class: "error", role: "alert", hidden: true });
  let items = first.items;
  let editing = null; // the row number being edited
  let stale = false;
  const say = (text) => { replace(message, text); message.hidden = !text; };
  const reload = async () => {
    if (editing !== null) { stale = true; return; }
    stale = false;
    items = (await get(base, { limit: 10 })).items;
    render();
  };
  const done = () => { editing = null; if (stale) reload().catch(() => {}); else render(); };
  const failed = (err, record) => {
    if (err?.code !== "version_conflict") { say(err?.readable ? err.readable() : String(err)); return; }
    const current = err.details?.current;
    items = current ? items.map((r) => (r.row === record.row ? current : r)) : items.filter((r) => r.row !== record.row);
    say(current
      ? `${err.readable()} Row ${record.row} is now: ${columns.map((c) => `${c.name} = ${fmt(current.values[c.name]) === "" ? "(empty)" : fmt(current.values[c.name])}`).join(", ")}.`
      : `Row ${record.row} was deleted by someone else meanwhile.`);
  };
  const save = async (record, inputs) => {
    const values = {};
    columns.forEach((c, i) => {
      const text = inputs[i].value;
      if (text !== (record.values[c.name] === null || record.values[c.name] === undefined ? "" : String(record.values[c.name]))) values[c.name] = valueOf(c, text);
    });
    try {
      const saved = await patchFrom(`${base}/${record.row}`, { values }, record.version);
      items = items.map((r) => (r.row === record.row ? saved : r));
      say("");
    } catch (err) {
      failed(err, record);
    }
    done();
  };
  const remove = async (record) => {
    try {
      await delFrom(`${base}/${record.row}`, record.version);
      items = items.filter((r) => r.row !== record.row);
      say("");
    } catch (err) {
      failed(err, record);
    }
    render();
  };
  const row = (record) => {
    if (editing !== record.row) {
      return h("tr", { dataset: { row: record.row, version: record.version } },
        columns.map((c) => h("td", {}, fmt(record.values[c.name]))),
        h("td", { class: "actions" },
          button("Edit", () => { editing = record.row; render(); }, { class: "link", "aria-label": `Edit row ${record.row}` }),
          button("Delete", () => remove(record), { class: "link", "aria-label": `Delete row ${record.row}` })));
    }
    const inputs = columns.map((c) => h("input", {
      value: record.values[c.name] ?? "", "aria-label": `${c.name} of row ${record.row}`, size: 8,
    }));
    return h("tr", { dataset: { row: record.row, version: record.version }, class: "editing" },
      inputs.map((i) => h("td", {}, i)),
      h("td", { class: "actions" },
        button("Save", () => save(record, inputs), { "aria-label": `Save row ${record.row}` }),
        button("Cancel", done, { class: "link", "aria-label": `Cancel editing row ${record.row}` })));
  };
  const render = () => replace(table,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.name)), h("th", {}, ""))),
    h("tbody", {}, items.map(row)));
  render();
  for (const event of ["record.created", "record.updated", "record.deleted"]) {
    let timer;
    app.cleanup(app.live.on(event, (e) => {
      if (e.dataset_id !== dataset.id || !e.room?.startsWith("project:")) return;
      clearTimeout(timer);
      timer = setTimeout(() => reload().catch(() => {}), 200);
    }));
  }
  const fresh = columns.map(() => h("input", { size: 8 }));
  const add = h("form", { class: "row", "aria-label": "Add a row" },
    columns.map((c, i) => field(`New ${c.name}`, fresh[i])),
    h("button", { type: "submit" }, "Add row"));
  add.addEventListener("submit", async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(columns.map((c, i) => [c.name, valueOf(c, fresh[i].value)]));
    const made = await attempt(() => post(base, { values }), message);
    if (!made) return;
    add.reset();
    say(`Row ${made.row} added.`);
  });
  return h("div", {}, message, h("div", { class: "scroll" }, table), add);
}

const CHART_KINDS = ["histogram", "bar", "line", "scatter", "box", "heatmap"];

// Charts of the dataset: made by a `visualization` job; the picture shows once it is done.
function chartsPart(app, dataset) {
  const list = h("div", { class: "pictures", "aria-label": "Charts" });
  const shown = new Map(); // visualization id -> figure
  const columns = dataset.columns.map((c) => c.name);
  const pick = (name, optional) => h("select", { name },
    optional ? h("option", { value: "" }, "(none)") : null, columns.map((c) => h("option", { value: c }, c)));
  const kind = h("select", { name: "kind" }, CHART_KINDS.map((k) => h("option", { value: k }, k)));
  const x = pick("x", true);
  const y = pick("y", true);
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const show = async (chart) => {
    if (chart.status !== "succeeded" || !chart.png_url) return;
    const title = chart.spec.title || `${chart.spec.kind} of ${[chart.spec.x, chart.spec.y].filter(Boolean).join(" and ") || "the columns"}`;
    const img = h("img", { alt: `Chart: ${title}`, width: 420, dataset: { chart: chart.id } });
    const figure = shown.get(chart.id) || h("figure", {}, img, h("figcaption", {}, title));
    if (!shown.has(chart.id)) { shown.set(chart.id, figure); list.prepend(figure); }
    const url = await pictureUrl(chart.png_url);
    figure.querySelector("img").src = url;
  };
  const pending = new Map(); // job id -> visualization id
  const finished = new Set(); // chart jobs that ended before their POST was answered
  const form = h("form", { class: "row" }, field("Chart", kind), field("X", x), field("Y", y),
    h("button", { type: "submit" }, "Make chart"), error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const spec = { kind: kind.value };
    if (x.value) spec.x = x.value;
    if (y.value) spec.y = y.value;
    const chart = await attempt(() => post(`/datasets/${dataset.id}/visualizations`, spec), error);
    if (!chart) return;
    if (chart.status === "succeeded") attempt(() => show(chart));
    else if (finished.has(chart.job_id)) attempt(async () => show(await get(`/visualizations/${chart.id}`)));
    else pending.set(chart.job_id, chart.id);
  });
  app.cleanup(app.live.on("job.completed", (event) => {
    if (event.kind !== "visualization" || !event.room?.startsWith("project:")) return;
    const id = pending.get(event.job_id);
    if (id === undefined) { finished.add(event.job_id); return; }
    pending.delete(event.job_id);
    attempt(async () => show(await get(`/visualizations/${id}`)));
  }));
  app.cleanup(app.live.on("job.failed", (event) => {
    if (!pending.has(event.job_id) || !event.room?.startsWith("project:")) return;
    pending.delete(event.job_id);
    replace(error, `The chart failed: ${event.error?.message || "unknown error"}`);
    error.hidden = false;
  }));
  get(`/datasets/${dataset.id}/visualizations`, { limit: 6 })
    .then((page) => page.items.reverse().forEach((c) => attempt(() => show(c)))).catch(() => {});
  return h("div", {}, form, list);
}

export function analysisResult(job) {
  const r = job.result;
  const facts = [
    ["algorithm", r.algorithm], ["rows", r.rows], ["features", (r.features || []).join(", ")],
    ["k", r.k], ["silhouette", r.silhouette], ["inertia", r.inertia], ["cluster sizes", r.cluster_sizes?.join(", ")],
    ["target", r.target], ["accuracy", r.accuracy], ["R²", r.r2], ["MAE", r.mae], ["RMSE", r.rmse],
  ].filter(([, v]) => v !== undefined && v !== null && v !== "");
  const pictures = h("div", { class: "pictures" });
  for (const picture of r.pictures || []) {
    const img = h("img", { alt: `${r.algorithm} ${picture.name.replace(".png", "")}`, width: 360, dataset: { picture: picture.name } });
    pictures.append(h("figure", {}, img, h("figcaption", {}, picture.name)));
    // On S3 the picture comes straight from the bucket (the page's policy allows its origin).
    if (picture.presigned_url) img.src = picture.presigned_url;
    else attempt(async () => { img.src = await pictureUrl(picture.url); });
  }
  return h("article", { class: "result", dataset: { job: job.id } },
    h("h4", {}, `${r.algorithm} on ${r.rows} rows`),
    h("dl", {}, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, fmt(v))])),
    pictures);
}

export function clearPanel(el) {
  replace(el);
}
