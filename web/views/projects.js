// My projects, and creating one (the creator becomes its head).
import { get, post } from "../api.js";
import { h, replace, field, attempt, formData, when } from "../dom.js";

export async function list(app) {
  const items = h("ul", { class: "cards", "aria-label": "Projects" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h("form", { class: "row" },
    field("New project", h("input", { name: "name", required: true, maxlength: 200, placeholder: "Name" })),
    h("button", { type: "submit" }, "Create"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const made = await attempt(() => post("/projects", formData(form)), error);
    if (made) app.navigate(`/projects/${made.id}`);
  });
  replace(app.main, h("h1", {}, "Projects"), form, error, items);
  const page = await get("/projects", { limit: 200 });
  replace(items, page.items.length ? page.items.map((p) => h("li", { class: "card" },
    h("h2", {}, h("a", { href: `/projects/${p.id}` }, p.name)),
    h("p", {}, p.description || ""),
    h("small", {}, `${p.member_count} member${p.member_count === 1 ? "" : "s"} · you are ${p.role} · since ${when(p.created_at)}`)))
    : h("li", {}, "No projects yet: create one above."));
}
