// Signing in and up, and the pages the mail links open: invitation, password reset, address
// confirmation (each posts the link's token to the REST API).
import { api, get, post, session } from "../api.js";
import { h, replace, field, attempt, formData } from "../dom.js";

function errorBox() {
  return h("p", { class: "error", role: "alert", hidden: true });
}

function card(title, ...children) {
  return h("section", { class: "card narrow" }, h("h1", {}, title), ...children);
}

export async function login(app) {
  const error = errorBox();
  const form = h("form", { class: "stack" },
    field("Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    error,
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const pair = await attempt(() => api("/auth/login", { method: "POST", body: formData(form), auth: false }), error);
    if (pair) app.signedIn(pair);
  });
  const options = await get("/auth/options").catch(() => ({ registration: "open" }));
  replace(app.main, card("Sign in", form,
    h("p", {}, h("a", { href: "/forgot-password" }, "Forgot your password?")),
    options.registration === "closed" ? h("p", {}, "Sign-up is closed: an admin creates accounts.")
      : h("p", {}, "No account? ", h("a", { href: "/register" + location.search }, "Create one"),
        options.registration === "invite" ? " (with an invitation link)" : "")));
}

export async function register(app) {
  const params = new URLSearchParams(location.search);
  const token = params.get("invitation");
  const options = await get("/auth/options").catch(() => ({ registration: "open" }));
  if (options.registration === "closed" || (options.registration === "invite" && !token)) {
    return replace(app.main, card("Create an account",
      h("p", {}, options.registration === "closed" ? "Sign-up is closed on this server: ask an admin for an account."
        : "Sign-up needs an invitation: open the link in your invitation mail."),
      h("p", {}, h("a", { href: "/login" }, "Sign in"))));
  }
  const error = errorBox();
  const form = h("form", { class: "stack" },
    field("Name", h("input", { name: "name", autocomplete: "name", required: true, maxlength: 200 })),
    field("Email", h("input", { name: "email", type: "email", autocomplete: "email", required: true, value: params.get("email") || "" })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "new-password", required: true, minlength: 8 }), "8 characters or more"),
    error,
    h("button", { type: "submit" }, "Create account"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const body = formData(form);
    if (token) body.invitation_token = token;
    const made = await attempt(() => api("/auth/register", { method: "POST", body, auth: false }), error);
    if (!made) return;
    const pair = await attempt(() => api("/auth/login", { method: "POST", body: { email: body.email, password: body.password }, auth: false }), error);
    // Signed up through an invitation: already a member, so straight to the projects.
    if (pair) app.signedIn(pair, token ? "/" : undefined);
  });
  replace(app.main, card("Create an account", form, h("p", {}, "Have one? ", h("a", { href: "/login" }, "Sign in"))));
}

export async function forgot(app) {
  const out = h("p", { role: "status" });
  const form = h("form", { class: "stack" },
    field("Email", h("input", { name: "email", type: "email", required: true })),
    h("button", { type: "submit" }, "Send a reset link"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    await attempt(() => api("/auth/password-reset", { method: "POST", body: formData(form), auth: false }), out);
    replace(out, "If that address has an account, a reset link is on its way.");
  });
  replace(app.main, card("Reset your password", form, out));
}

export async function reset(app) {
  const token = new URLSearchParams(location.search).get("token") || "";
  const out = h("p", { role: "status" });
  const form = h("form", { class: "stack" },
    field("New password", h("input", { name: "password", type: "password", autocomplete: "new-password", required: true, minlength: 8 })),
    h("button", { type: "submit" }, "Set password"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await attempt(() => api("/auth/password-reset/confirm", { method: "POST", body: { token, ...formData(form) }, auth: false }).then(() => true), out);
    if (done) replace(out, "Your password is set. ", h("a", { href: "/login" }, "Sign in"));
  });
  replace(app.main, card("Choose a new password", form, out));
}

export async function verify(app) {
  const token = new URLSearchParams(location.search).get("token") || "";
  const out = h("p", { role: "status" }, "Confirming…");
  replace(app.main, card("Confirm your address", out));
  const user = await attempt(() => api("/auth/verify-email", { method: "POST", body: { token }, auth: false }), out);
  if (user) replace(out, `${user.email} is confirmed. `, h("a", { href: "/" }, "Continue"));
}

export async function invitation(app) {
  const token = new URLSearchParams(location.search).get("token") || "";
  const out = h("div", { role: "status" }, "Loading the invitation…");
  replace(app.main, card("Invitation", out));
  const preview = await attempt(() => api("/invitations/preview", { method: "POST", body: { token }, auth: false }), out);
  if (!preview) return;
  const here = `/invitation?token=${encodeURIComponent(token)}`;
  const details = h("p", {}, `${preview.invited_by || "Someone"} invites ${preview.email} to join `,
    h("strong", {}, preview.project_name), ` as ${preview.role}.`);
  if (preview.status !== "pending") return replace(out, details, h("p", {}, `This invitation is ${preview.status}.`));
  if (!session.get()) {
    return replace(out, details, h("p", {},
      h("a", { href: `/login?next=${encodeURIComponent(here)}` }, "Sign in to accept"), " or ",
      h("a", { href: `/register?invitation=${encodeURIComponent(token)}&email=${encodeURIComponent(preview.email)}&next=${encodeURIComponent(here)}` }, "create an account")));
  }
  const error = errorBox();
  const accept = h("button", { type: "button", onclick: async () => {
    const done = await attempt(() => post("/invitations/accept", { token }), error);
    if (done) app.navigate(`/projects/${done.project_id}`);
  } }, "Accept");
  replace(out, details, error, accept);
}
