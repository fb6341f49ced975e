// School admin overview: class-level numbers only — rooms reporting now and warning counts (no names).
// Rooms come first; the warning summary (slow on a large school) fills its own box when it arrives.
import { api, esc } from "./api.js";
import { ago, failedBox, loadingBox, pct, t } from "./i18n.js";

function roomCard(w) {
  const name = w.room_name || w.room;
  const cls = w.section_title ? t("overview.room.class", { title: w.section_title }) : t("overview.room.no_class");
  return `<div class="card" data-room="${esc(w.room)}"><h2 title="${esc(w.site)} / ${esc(w.room)}">${esc(name)}</h2>
    <div data-k="class">${esc(cls)}</div><div class="muted">${esc(ago(w.window_end))}</div>
    ${(w.coverage_flags || []).includes("vision_starved") ? `<p class="quality-note" data-k="quality">${t("live.quality.paused")}</p>` : ""}
    <div class="metrics"><div class="metric"><div class="num" data-k="engagement">${pct(w.engagement)}</div><div class="muted">${t("metric.engagement")}</div></div>
    <div class="metric"><div class="num" data-k="attention">${pct(w.attention_share)}</div><div class="muted">${t("metric.attention")}</div></div>
    <div class="metric"><div class="num" data-k="n_faces">${w.n_faces ?? "–"}</div><div class="muted">${t("metric.faces")}</div></div>
    <div class="metric"><div class="num" data-k="hands">${w.hand_raises ?? "–"}</div><div class="muted">${t("metric.hands")}</div></div></div></div>`;
}

// "Students with warnings" counts people; the badges count warnings (one student can have several): both
// are labelled as what they count, so 60 students next to 157 warnings does not read as a contradiction.
function summaryBox(summary) {
  if (!summary) return `<div data-k="summary">${loadingBox("overview.warnings.loading")}</div>`;
  if (summary.failed) return `<div data-k="summary">${failedBox(esc(summary.failed))}</div>`;
  if (summary.engine_ran === false) return `<div data-k="summary"><p class="muted" data-k="no-run">${esc(t("warn.no_run"))}</p></div>`;
  const byLevel = (l) => Object.values(summary.counts[l] || {}).reduce((a, b) => a + b, 0);
  return `<div data-k="summary"><p data-k="students-with-warnings">${esc(t("overview.students_with_warnings", { n: summary.students_with_warnings, s: summary.students }))}</p>
    <p>${t("overview.by_level")} ${[3, 2, 1].map((l) => `<span class="lvl l${l}" data-k="level-${l}">${t("level." + l)}: ${byLevel(l)}</span>`).join(" ")}</p></div>`;
}

function ruleName(id) {  // the assistant's built-in rules have names; a school's own rule shows its id
  const key = "rule." + id, tr = t(key);
  return tr === key ? id : tr;
}

function auditText(a) {
  const key = "audit." + a.action, tr = t(key);
  const what = tr === key ? a.action : tr;
  const n = a.students ? " · " + (a.students === 1 ? t("audit.student") : t("audit.students", { n: a.students })) : "";
  return what + n;
}

export async function mount(el, { bus }) {
  const rooms = new Map();
  let summary = null, extra = loadingBox(), roomsLoaded = false;
  function render() {
    const list = [...rooms.values()].sort((a, b) => (a.site + a.room).localeCompare(b.site + b.room));
    el.innerHTML = `<div class="card"><h1>${t("overview.title")}</h1>${summaryBox(summary)}</div>
      <h2>${t("overview.rooms")}</h2><div class="rooms">${!roomsLoaded ? loadingBox() : list.length ? list.map(roomCard).join("")
        : `<div class="card"><p class="muted">${t("overview.none")}</p></div>`}</div>${extra}`;
  }
  render();
  const off = bus.on((ev) => {
    const key = ev.site + "/" + ev.room, old = rooms.get(key) || {};
    const sameClass = old.section_id && old.section_id === ev.section_id;
    rooms.set(key, { ...ev.window, site: ev.site, room: ev.room, room_name: old.room_name, section_id: ev.section_id,
      section_title: sameClass ? old.section_title : null });
    render();
  });
  api("/api/warnings/summary").then((s) => { summary = s; render(); })
    .catch((ex) => { summary = { failed: ex.message }; render(); });
  for (const w of await api("/api/rooms/latest")) rooms.set(w.site + "/" + w.room, w);
  roomsLoaded = true;
  render();
  const [feedback, audit] = await Promise.all([api("/api/assistant/feedback/summary"), api("/api/audit?limit=20&grouped=true")]);
  extra = `<div class="grid2"><div class="card"><h2>${t("overview.feedback")}</h2>${feedback.length ? `<table>${feedback.map((f) =>
      `<tr><td>${esc(ruleName(f.rule_id))}</td><td>${t("assist." + (f.verdict === "useful" ? "useful" : "dismiss"))}</td><td>${f.n}</td></tr>`).join("")}</table>` : `<p class="muted">${t("overview.feedback.none")}</p>`}</div>
    <div class="card"><h2>${t("overview.audit")}</h2><div class="tablewrap">${audit.length ? `<table data-k="audit">${audit.map((a) =>
      `<tr><td>${esc(a.ts.slice(0, 16).replace("T", " "))}</td><td>${esc(a.username)}</td><td data-k="action">${esc(auditText(a))}</td></tr>`).join("")}</table>` : `<p class="muted">${t("overview.audit.none")}</p>`}</div></div></div>`;
  render();
  return off;
}
