// Small DOM helpers: h() builds elements, text is always set as text (never as HTML).

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldSeq = 0;
// A labelled form field: the label names the control for screen readers.
export function field(label, control, hint) {
  const id = control.id || (control.id = `f${++fieldSeq}`);
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
    hint ? h("small", {}, hint) : null);
}

export function button(label, onclick, props = {}) {
  return h("button", { type: "button", onclick, ...props }, label);
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// Announce a message in the page's live region: errors politely interrupt, notes wait.
export function notify(text, kind = "info") {
  const region = document.getElementById("toasts");
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    text, button("×", () => item.remove(), { "aria-label": "Dismiss", class: "link" }));
  region.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 12000 : 6000);
}

// Run an action, show its error as a readable message, never swallow it.
export async function attempt(action, where) {
  try {
    return await action();
  } catch (err) {
    const text = err?.readable ? err.readable() : String(err?.message || err);
    if (where) replace(where, text); else notify(text, "error");
    if (where) where.hidden = false;
    return undefined;
  }
}

export function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}
