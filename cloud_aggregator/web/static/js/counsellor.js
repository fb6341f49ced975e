// Counsellor / class-advisor workspace: warnings by level and type with plain-words reasons,
// acknowledge/escalate, and the student profile with interventions and their outcomes.
import { api, esc, toast } from "./api.js";
import { radar, smallLines } from "./charts.js";
import { lang, loadingBox, t } from "./i18n.js";

const KINDS = ["meeting", "call_home", "tutoring", "referral", "other"];
const OUTCOMES = ["improved", "no_change", "worse", "closed"];

// A reason that says nothing ("attendance 0 points below the term") is not a reason a person can act on.
const trivial = (r) => /_drop$/.test(r.key) && r.params && Number(r.params.value) <= 0;

// A risk warning's reasons: the score line ("… main reasons:"), then the top features joined by " · ".
// The model's version is said once per page (modelLine), not on every card.
function riskText([head, ...rest]) {
  const shown = rest.filter((x) => !trivial(x));
  return [esc(t("reason.risk.short", head.params)), shown.map((x) => esc(t(x.key, x.params))).join(" · ")].join(" ");
}

// A rule warning's reasons in plain words, the main one first.
const ruleText = (w) => w.reasons.filter((x) => !trivial(x)).map((x) => esc(t(x.key, x.params))).join(" · ");

function modelOf(cards) {
  const c = cards.find((x) => x.model && x.model.reasons[0] && x.model.reasons[0].params);
  return c ? c.model.reasons[0].params.model : null;
}

const tagList = (tags) => (tags || []).length ? `<div class="muted">${tags.map((g) => `<span class="tag" title="${esc(t(g.evidence_key, g.evidence))}">${esc(t("tag." + g.id))}</span>`).join(" ")}</div>` : "";

// One card per student: the rule warnings and the risk model's reasons side by side.
function cardBody(c) {
  const rules = c.rules.length ? c.rules.map((w) => `<p><span class="lvl l${w.level}">${t("level." + w.level)}</span> <b>${t("type." + w.type)}</b>: ${ruleText(w)}</p>`).join("")
    : `<p class="muted">${t("warn.rules.none")}</p>`;
  const model = c.model ? `<p><span class="lvl l${c.model.level}">${t("level." + c.model.level)}</span> ${riskText(c.model.reasons)}</p>`
    : `<p class="muted">${t("warn.model.none")}</p>`;
  return `<div class="reasons"><div data-k="rules"><h3>${t("warn.col.rules")}</h3>${rules}</div>
    <div data-k="model"><h3>${t("warn.col.model")}</h3>${model}</div></div>`;
}

// The page says why the list is what it is: no run yet, or the last run failed.
function runNote(r) {
  if (!r.run) return `<p class="stale" data-k="no-run">${t("warn.no_run")}</p>`;
  const when = (r.run.finished_at || "").slice(0, 16).replace("T", " ");
  return `<p class="muted" data-k="run">${esc(t("warn.run", { at: when }))}</p>`
    + (r.run.error ? `<p class="stale" data-k="run-error">${esc(t("warn.run_failed", { error: r.run.error }))}</p>` : "");
}

// Staleness is a property of the records, not of each warning: one notice per page, sources in words.
export function staleNotice(warnings) {
  const st = warnings.filter((w) => w.stale);
  if (!st.length) return "";
  const sources = [...new Set(st.flatMap((w) => w.stale_sources || []))].map((x) => t("source." + x));
  const asOf = st.map((w) => w.data_as_of).filter(Boolean).sort()[0];
  return `<p class="stale-note" data-k="stale">${esc(t("warn.stale.page", { sources: sources.join(lang === "zh-CN" ? "、" : ", "), as_of: asOf }))}</p>`;
}

// Built-in catalogue entries are translated by id; a school's own entries (own ids) show their own text.
function effectParams(e) {
  const p = (x) => (x === null || x === undefined ? null : Math.round(x * 100));
  const c = e.comparison || {};
  return { before: p(e.score_before), w2: p(e.score_2w), w4: p(e.score_4w), cb: p(c.mean_before), c4: p(c.mean_4w), n: c.n };
}

function ivText(iv) {
  const key = `iv.${iv.id}`, tr = t(key);
  return tr === key ? iv.text : tr;
}

function studentName(w) {
  const n = w.name;
  if (!n) return w.student;
  return [n.family, n.given].filter(Boolean).join("") + (n.english ? ` (${n.english})` : "");
}

function options(values, prefix, selected) {
  return `<option value="">${t("warn.filter.all")}</option>` + values.map((v) =>
    `<option value="${v}" ${String(selected) === String(v) ? "selected" : ""}>${esc(t(prefix + v))}</option>`).join("");
}

export async function mount(el) {
  const f = { level: "", type: "", state: "" };
  async function load() {
    const q = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    const list = el.querySelector(".wlist");
    if (list) list.innerHTML = loadingBox();  // a filter change: keep the filters, show that the list is coming
    const [r, runs] = await Promise.all([api("/api/warnings?" + q), api("/api/warnings/runs?limit=1").catch(() => null)]);
    const d = runs && runs.drift;
    const model = modelOf(r.warnings);
    const modelNote = !runs ? "" : runs.rules_only ? `<p class="muted" data-k="model">${t("warn.rules_only")}</p>`
      : (model ? `<p class="muted" data-k="model">${esc(t("warn.model", { model }))}</p>` : "")
        + (d && d.flagged ? `<p class="stale" data-k="drift">${esc(t("warn.drift", { psi: d.max_psi, action: d.action }))}</p>` : "");
    el.innerHTML = `<div class="card"><h1>${t("warn.title")}</h1>${runNote(r)}${staleNotice(r.warnings)}${modelNote}
      <p class="muted">${esc(t("warn.count", { n: r.warnings.length, w: r.warnings.reduce((k, c) => k + c.ids.length, 0), s: r.students }))}</p>
      <div class="filters">
        <label><span>${t("warn.filter.level")}</span><select data-f="level">${options([3, 2, 1], "level.", f.level)}</select></label>
        <label><span>${t("warn.filter.type")}</span><select data-f="type">${options(["attendance", "submissions", "academic", "lms", "risk"], "type.", f.type)}</select></label>
        <label><span>${t("warn.filter.state")}</span><select data-f="state">${options(["new", "acknowledge", "escalate"], "state.", f.state)}</select></label>
      </div><p class="muted">${t("warn.source")}</p></div>
      <div class="wlist">${r.warnings.length ? r.warnings.map((w) => `
        <div class="card warning" data-warning="${esc(w.id)}" data-ids="${esc(w.ids.join(" "))}" data-student="${esc(w.student)}">
          <span class="lvl l${w.level}">${t("level." + w.level)}</span>
          <div><div class="who-s">${esc(studentName(w))}</div>
            ${cardBody(w)}
            ${tagList(w.tags)}
            ${w.intervention ? `<div class="muted">${t("warn.intervention")}: ${esc(ivText(w.intervention))}</div>` : ""}
            <div class="muted" data-k="state">${t("state." + w.state)}${w.by ? " · " + esc(w.by) : ""}</div></div>
          <div class="acts"><a class="btn" href="#student/${encodeURIComponent(w.student)}">${t("warn.open")}</a>
            ${w.state === "acknowledge" ? "" : `<button class="btn" data-act="acknowledge">${t("warn.ack")}</button>`}
            ${w.state === "escalate" ? "" : `<button class="btn bad" data-act="escalate">${t("warn.escalate")}</button>`}</div>
        </div>`).join("") : `<div class="card"><p>${t(r.run ? "warn.none" : "warn.none.no_run")}</p></div>`}</div>`;
  }
  el.addEventListener("change", (e) => {
    const s = e.target.closest("[data-f]");
    if (s) { f[s.dataset.f] = s.value; load(); }
  });
  el.addEventListener("click", async (e) => {
    const b = e.target.closest("[data-act]");
    if (!b) return;
    // the card's action applies to each of its warnings (the rules' and the model's)
    for (const id of b.closest("[data-warning]").dataset.ids.split(" ")) {
      await api(`/api/warnings/${encodeURIComponent(id)}/action`, { method: "POST", body: { action: b.dataset.act, note: "" } });
    }
    toast(t("state." + b.dataset.act));
    load();
  });
  await load();
}

export async function mountProfile(el, { arg }) {
  const p = arg;
  let current = null;
  async function load() {
    const r = await api(`/api/students/${encodeURIComponent(p)}`);
    current = r;
    const axes = ["academic", "attendance", "submissions", "lms", "class_engagement"].map((k) => ({ label: t("axis." + k), value: r.radar[k] }));
    const trendRows = r.trends.map((w) => ({ label: w.week.slice(5), attendance: w.attendance, ontime: w.ontime,
      score: w.score === null ? null : w.score / 100 }));
    const keys = [{ key: "attendance", color: "#0b6e99" }, { key: "ontime", color: "#2e7d32" }, { key: "score", color: "#e8a33d" }];
    const noClass = r.radar.class_engagement === null || r.radar.class_engagement === undefined;
    el.innerHTML = `<p><a class="btn" href="#warnings">← ${t("profile.back")}</a></p>
      <div class="profile">
        <div class="card wide"><h1>${t("profile.title")}: ${esc(studentName({ name: r.name, student: r.student }))}</h1>
          <p class="muted">${r.grade ? esc(t("profile.grade", { g: r.grade })) + " · " : ""}${esc(t("profile.as_of", { d: r.as_of }))}</p>
          ${r.card ? staleNotice([r.card]) + cardBody(r.card) + tagList(r.card.tags) : `<p class="muted" data-k="no-card">${t(r.run ? "profile.no_warnings" : "warn.no_run")}</p>`}</div>
        <div class="card radar"><h2>${t("profile.radar")}</h2>${radar(axes)}<p class="muted">${t("profile.class_context")}</p>
          ${noClass ? `<p class="muted" data-k="class-none">${t("profile.class_context.none")}</p>` : ""}</div>
        <div class="card trend"><h2>${t("profile.trends")}</h2>${smallLines(trendRows, keys)}
          <div class="legend"><span><i class="att"></i>${t("trend.attendance")}</span><span><i class="ontime"></i>${t("trend.ontime")}</span><span><i class="eng"></i>${t("trend.score")}</span></div>
          <table><tr><th></th>${r.trends.map((w) => `<th>${esc(w.week.slice(5))}</th>`).join("")}</tr>
          <tr><td>${t("trend.lms")}</td>${r.trends.map((w) => `<td>${w.lms_minutes}</td>`).join("")}</tr></table></div>
        <div class="card wide"><h2>${t("iv.title")}</h2>
          <form id="iv-form" class="row">
            <label><span>${t("iv.kind")}</span><select name="kind">${KINDS.map((k) => `<option value="${k}">${t("iv.kind." + k)}</option>`).join("")}</select></label>
            <label class="grow"><span>${t("iv.note")}</span><textarea name="note" maxlength="4000"></textarea></label>
            <label><span>${t("iv.at")}</span><input type="date" name="at" max="${new Date().toISOString().slice(0, 10)}" title="${t("iv.at.hint")}"></label>
            <button class="btn primary" type="submit">${t("iv.save")}</button></form>
          <div id="ivs">${r.interventions.length ? r.interventions.map((iv) => `
            <div class="iv" data-iv="${esc(iv.id)}"><b>${t("iv.kind." + iv.kind)}</b> · ${esc(iv.by)} · ${esc(iv.created_at.slice(0, 16).replace("T", " "))}
              <div>${esc(iv.note)}</div>
              ${iv.effect ? `<div class="muted" data-k="effect">${esc(t("iv.effect", effectParams(iv.effect)))}</div>` : ""}
              ${iv.outcome ? `<div class="ok" data-k="outcome">${t("iv.outcome")}: ${t("iv.outcome." + iv.outcome)} ${esc(iv.outcome_note)}</div>` : `
              <form class="row outcome"><select name="outcome">${OUTCOMES.map((o) => `<option value="${o}">${t("iv.outcome." + o)}</option>`).join("")}</select>
                <input name="note" maxlength="4000" placeholder="${t("iv.note")}"><button class="btn" type="submit">${t("iv.outcome.save")}</button></form>
              <div class="muted">${t("iv.pending")}</div>`}</div>`).join("") : `<p class="muted">${t("iv.none")}</p>`}</div></div>
      </div>`;
  }
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    if (e.target.id === "iv-form") {
      const card = current && current.card;
      await api(`/api/students/${encodeURIComponent(p)}/interventions`, { method: "POST",
        body: { kind: fd.get("kind"), note: fd.get("note"), warning_id: card ? card.id : null, at: fd.get("at") || null } });
      toast(t("iv.saved"));
    } else if (e.target.classList.contains("outcome")) {
      const id = e.target.closest("[data-iv]").dataset.iv;
      await api(`/api/interventions/${encodeURIComponent(id)}/outcome`, { method: "PUT", body: { outcome: fd.get("outcome"), note: fd.get("note") } });
    }
    load();
  });
  await load();
}
