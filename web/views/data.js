// A dataset's statistics and rows, starting an analysis, and an analysis result with its
// pictures (fetched with the bearer token, shown as blob: URLs).
import { get, post, pictureUrl } from "../api.js";
import { h, replace, field, attempt } from "../dom.js";

const NUMERIC = new Set(["integer", "float"]);
let algorithms;

const fmt = (v) => (typeof v === "number" ? String(Number(v.toPrecision(5))) : v ?? "");

export async function datasetPanel(app, datasetId, onJob) {
  const [dataset, rows] = await Promise.all([get(`/datasets/${datasetId}`), get(`/datasets/${datasetId}/rows`, { limit: 10 })]);
  algorithms ??= (await get("/ml/algorithms")).algorithms;
  const stats = h("table", { class: "table", "aria-label": "Column statistics" },
    h("thead", {}, h("tr", {}, ["Column", "Type", "Count", "Nulls", "Distinct", "Min", "Max", "Mean", "Std"].map((c) => h("th", {}, c)))),
    h("tbody", {}, dataset.columns.map((c) => h("tr", {},
      h("td", {}, c.name), h("td", {}, c.type + (c.categorical ? " (categorical)" : "")),
      [c.stats.count, c.stats.nulls, c.stats.distinct, c.stats.min, c.stats.max, c.stats.mean, c.stats.std].map((v) => h("td", {}, fmt(v)))))));
  const table = h("table", { class: "table", "aria-label": "Rows" });
  const renderRows = (page) => replace(table,
    h("thead", {}, h("tr", {}, page.columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, page.rows.map((r) => h("tr", {}, page.columns.map((c) => h("td", {}, fmt(r[c])))))));
  renderRows(rows);
  // A member edited, added or deleted a row (Records): show the current rows.
  let reload;
  for (const event of ["record.created", "record.updated", "record.deleted"]) {
    app.cleanup(app.live.on(event, (e) => {
      if (e.dataset_id !== datasetId || !e.room?.startsWith("project:")) return;
      clearTimeout(reload);
      reload = setTimeout(() => get(`/datasets/${datasetId}/rows`, { limit: 10 }).then(renderRows).catch(() => {}), 200);
    }));
  }

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
    h("h3", {}, `First ${rows.rows.length} rows`), h("div", { class: "scroll" }, table),
    h("h3", {}, "Analyse"), form,
    h("h3", {}, "Charts"), charts);
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
