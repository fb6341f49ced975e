// App shell: login, language, role-based navigation, one server-sent-event stream shared by the views.
import { api, ApiError, esc, setCsrf } from "./api.js";
import { apply, failedBox, lang, loadingBox, loadLang, t } from "./i18n.js";

const VIEWS = {
  live: { roles: ["teacher"], label: "nav.live", load: () => import("./teacher.js") },
  warnings: { roles: ["advisor", "counsellor"], label: "nav.warnings", load: () => import("./counsellor.js") },
  student: { roles: ["advisor", "counsellor"], label: null, load: () => import("./counsellor.js"), fn: "mountProfile" },
  fleet: { roles: ["it"], label: "nav.fleet", load: () => import("./fleet.js") },
  overview: { roles: ["admin"], label: "nav.overview", load: () => import("./overview.js") },
  reports: { roles: ["teacher", "admin"], label: "nav.reports", load: () => import("./reports.js") },
};

const state = { user: null, es: null, listeners: new Set(), unmount: null, nav: 0, conn: null };
export const bus = {
  on(fn) { state.listeners.add(fn); return () => state.listeners.delete(fn); },
};

function viewsFor(role) { return Object.entries(VIEWS).filter(([, v]) => v.roles.includes(role)); }

function connect() {
  if (state.es || !["teacher", "admin"].includes(state.user.role)) return;
  const conn = document.getElementById("conn");
  conn.hidden = false;
  const es = new EventSource("/api/events");
  es.onopen = () => { state.conn = "live"; renderConn(); };
  es.onerror = () => { state.conn = "off"; renderConn(); };
  es.addEventListener("agg", (e) => {
    const ev = JSON.parse(e.data);
    for (const fn of state.listeners) fn(ev);
  });
  state.es = es;
}

// the pill keeps its state, not its words: a language switch re-words it
function renderConn() {
  const conn = document.getElementById("conn");
  if (!state.conn) return;
  conn.textContent = t("conn." + state.conn);
  conn.className = "conn " + (state.conn === "live" ? "on" : "off");
}

async function route() {
  if (!state.user) return;
  const [name, arg] = decodeURIComponent(location.hash.slice(1)).split("/");
  const allowed = viewsFor(state.user.role);
  const entry = allowed.find(([n]) => n === name) || allowed[0];
  if (!entry) return;
  if (entry[0] !== name) { location.hash = entry[0]; return; }
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === (name === "student" ? "warnings" : name)));
  if (state.unmount) { state.unmount(); state.unmount = null; }
  state.listeners.clear();
  // Each navigation mounts into its own box: a slower, older view that finishes later writes into a
  // detached box instead of over the newer one (login + deep link, quick clicks).
  const my = ++state.nav;
  const host = document.createElement("div");
  host.innerHTML = loadingBox();  // until the view has its data: never a blank page
  document.getElementById("view").replaceChildren(host);
  let unmount = null;
  try {
    const mod = await entry[1].load();
    if (my !== state.nav) return;
    unmount = (await mod[entry[1].fn || "mount"](host, { user: state.user, bus, arg })) || null;
  } catch (ex) {
    if (my === state.nav) host.innerHTML = failedBox(esc(ex.message || String(ex)));
    return;
  }
  if (my !== state.nav) { if (unmount) unmount(); return; }
  state.unmount = unmount;
}

function renderNav() {
  const nav = document.getElementById("nav");
  nav.innerHTML = viewsFor(state.user.role).filter(([, v]) => v.label)
    .map(([n, v]) => `<a href="#${n}" data-view="${n}">${t(v.label)}</a>`).join("");
  nav.hidden = false;
  document.getElementById("who").textContent = `${state.user.display_name} · ${t("role." + state.user.role)}`;
  document.getElementById("logout").hidden = false;
}

async function enter(me) {
  state.user = me.user;
  setCsrf(me.csrf);
  await loadLang(me.user.language);
  document.getElementById("login").hidden = true;
  renderNav();
  connect();
  await route();
}

function showLogin() {
  state.user = null;
  if (state.es) { state.es.close(); state.es = null; }
  state.conn = null;
  if (state.unmount) { state.unmount(); state.unmount = null; }
  document.getElementById("view").innerHTML = "";
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("conn").hidden = true;
  document.getElementById("who").textContent = "";
  document.getElementById("login").hidden = false;
}

async function init() {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  const pre = localStorage.getItem("cp-lang") || (navigator.language.startsWith("zh") ? "zh-CN" : "en");
  await loadLang(pre);
  window.addEventListener("cp:logout", showLogin);
  window.addEventListener("hashchange", route);
  document.getElementById("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = document.getElementById("login-error");
    err.textContent = "";
    try {
      const me = await api("/api/login", { method: "POST", body: {
        username: document.getElementById("username").value, password: document.getElementById("password").value } });
      document.getElementById("password").value = "";
      await enter(me);
    } catch (ex) {
      err.textContent = ex instanceof ApiError && ex.status === 429
        ? t("login.throttled", { seconds: ex.headers.get("Retry-After") || "60" }) : t("login.failed");
    }
  });
  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("/api/logout", { method: "POST" }); } finally { showLogin(); }
  });
  document.getElementById("lang").addEventListener("click", async () => {
    const next = lang === "zh-CN" ? "en" : "zh-CN";
    localStorage.setItem("cp-lang", next);
    if (state.user) {
      await api("/api/me/language", { method: "PUT", body: { language: next } });
      state.user = { ...state.user, language: next };
      await loadLang(next);
      renderNav();
      renderConn();
      await route();
    } else {
      await loadLang(next);
    }
  });
  try {
    await enter(await api("/api/me"));
  } catch {
    showLogin();
  }
  apply(document);
}

init();
