// UI text in the user's language: catalogues are /static/i18n/<lang>.json (same files the PDF reports use).
let cat = {};
export let lang = "zh-CN";

export async function loadLang(l) {
  const r = await fetch(`/static/i18n/${l}.json`);
  cat = await r.json();
  lang = l;
  document.documentElement.lang = l;
  apply(document);
}

export function t(key, params = {}) {
  let s = cat[key] ?? key;
  for (const [k, v] of Object.entries(params)) s = s.replaceAll(`{${k}}`, v ?? "–");
  return s;
}

export function apply(root) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
}

export const pct = (x) => (x === null || x === undefined ? "–" : Math.round(x * 100) + "%");

export function ago(iso) {
  if (!iso) return t("ago.never");
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 90) return t("ago.s", { n: s });
  if (s < 5400) return t("ago.m", { n: Math.round(s / 60) });
  return t("ago.h", { n: Math.round(s / 3600) });
}

export const hhmm = (iso) => new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });

// One loading and one failure box for every view, so no page is ever blank while it waits.
export const loadingBox = (key = "state.loading") => `<div class="card loading" data-k="loading" role="status"><p class="muted">${t(key)}</p></div>`;
export const failedBox = (msg) => `<div class="card" data-k="load-failed" role="alert"><p class="stale">${t("state.load_failed", { msg })}</p></div>`;
