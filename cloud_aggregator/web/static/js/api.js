// JSON API client: same-origin cookie session + the session's CSRF token on every state-changing request.
let csrf = "";
export function setCsrf(c) { csrf = c || ""; }

export class ApiError extends Error {
  constructor(status, detail, headers) { super(detail); this.status = status; this.headers = headers; }
}

export async function api(path, { method = "GET", body } = {}) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
  const r = await fetch(path, opts);
  if (r.status === 401 && path !== "/api/login") window.dispatchEvent(new Event("cp:logout"));
  if (!r.ok) {
    let d = r.statusText;
    try { const j = await r.json(); d = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch { /* keep statusText */ }
    throw new ApiError(r.status, d, r.headers);
  }
  return r.status === 204 ? null : r.json();
}

const ENT = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ENT[c]);

export function toast(msg) {
  const el = document.getElementById("toast");
  el.textContent = msg; el.hidden = false;
  clearTimeout(toast._t); toast._t = setTimeout(() => { el.hidden = true; }, 3000);
}
