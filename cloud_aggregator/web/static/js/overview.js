// School admin overview: class-level numbers only — rooms reporting now and warning counts (no names).
import { api, esc } from "./api.js";
import { ago, pct, t } from "./i18n.js";

export async function mount(el, { bus }) {
  const rooms = new Map();
  let summary = null;
  function render() {
    const list = [...rooms.values()].sort((a, b) => (a.site + a.room).localeCompare(b.site + b.room));
    el.innerHTML = `<div class="card"><h1>${t("overview.title")}</h1>
      ${summary ? `<p>${esc(t("overview.warnings", { n: summary.students_with_warnings, s: summary.students }))}</p>
        <p>${[3, 2, 1].map((l) => `<span class="lvl l${l}">${t("level." + l)}: ${Object.values(summary.counts[l] || {}).reduce((a, b) => a + b, 0)}</span>`).join(" ")}</p>` : ""}</div>
      <h2>${t("overview.rooms")}</h2><div class="rooms">${list.length ? list.map((w) => `
        <div class="card" data-room="${esc(w.room)}"><h2>${esc(w.site)} / ${esc(w.room)}</h2><div class="muted">${esc(ago(w.window_end))}</div>
          <div class="metrics"><div class="metric"><div class="num" data-k="engagement">${pct(w.engagement)}</div><div class="muted">${t("metric.engagement")}</div></div>
          <div class="metric"><div class="num" data-k="attention">${pct(w.attention_share)}</div><div class="muted">${t("metric.attention")}</div></div>
          <div class="metric"><div class="num" data-k="n_faces">${w.n_faces}</div><div class="muted">${t("metric.faces")}</div></div>
          <div class="metric"><div class="num" data-k="hands">${w.hand_raises}</div><div class="muted">${t("metric.hands")}</div></div></div></div>`).join("")
        : `<div class="card"><p class="muted">${t("overview.none")}</p></div>`}</div>${extra}`;
  }
  let extra = "";
  const off = bus.on((ev) => { rooms.set(ev.site + "/" + ev.room, { ...ev.window, site: ev.site, room: ev.room }); render(); });
  for (const w of await api("/api/rooms/latest")) rooms.set(w.site + "/" + w.room, w);
  summary = await api("/api/warnings/summary");
  const [feedback, audit] = await Promise.all([api("/api/assistant/feedback/summary"), api("/api/audit?limit=20")]);
  extra = `<div class="grid2"><div class="card"><h2>${t("overview.feedback")}</h2>${feedback.length ? `<table>${feedback.map((f) =>
      `<tr><td>${esc(f.rule_id)}</td><td>${t("assist." + (f.verdict === "useful" ? "useful" : "dismiss"))}</td><td>${f.n}</td></tr>`).join("")}</table>` : "–"}</div>
    <div class="card"><h2>${t("overview.audit")}</h2><div class="tablewrap">${audit.length ? `<table data-k="audit">${audit.map((a) =>
      `<tr><td>${esc(a.ts.slice(0, 16).replace("T", " "))}</td><td>${esc(a.username)}</td><td>${esc(a.action)}</td><td>${esc((a.student_pseudonym || "").slice(0, 12))}</td></tr>`).join("")}</table>` : "–"}</div></div></div>`;
  render();
  return off;
}
