// Teacher live view: the current lesson's engagement, now vs the section's usual level, seat zones,
// talk and tone, and the teaching assistant's suggestions. New windows arrive by server-sent events.
// Below: the class-level warnings of the teacher's sections (sustained drops; never about a student).
import { api, esc, toast } from "./api.js";
import { hbar, lineChart, zoneMap } from "./charts.js";
import { staleNotice } from "./counsellor.js";
import { ago, hhmm, pct, t } from "./i18n.js";

const C = { att: "#0b6e99", eng: "#e8a33d", usual: "#9aa5b1", teacher: "#0b6e99", students: "#2e7d32", quiet: "#cfd8dc" };
const TONE_COLORS = ["#5b8def", "#8e6bbf", "#e8a33d", "#2e7d32", "#9aa5b1", "#b3261e", "#6d4c41"];

function vsUsual(now, usual) {
  if (now === null || now === undefined) return { text: "", cls: "" };
  if (usual === null || usual === undefined) return { text: t("live.vs_usual.none"), cls: "" };
  const d = Math.round((now - usual) * 100);
  if (Math.abs(d) < 3) return { text: t("live.vs_usual.same"), cls: "" };
  return d > 0 ? { text: t("live.vs_usual.up", { d }), cls: "up" } : { text: t("live.vs_usual.down", { d: -d }), cls: "down" };
}

function metric(key, label, value, cmp) {
  return `<div class="card metric"><h3>${esc(label)}</h3><div class="num" data-k="${key}">${esc(value)}</div>
    <div class="cmp ${cmp.cls}">${esc(cmp.text)}</div></div>`;
}

// contract 1.1: a signal its stage did not cover is null and flagged; the page says so instead of a number
const flagged = (w, f) => (w.coverage_flags || []).includes(f);

function qualityNote(w) {
  const notes = ["vision_starved", "vision_degraded"].filter((f) => flagged(w, f));  // audio: in the talk card
  return notes.map((f) => `<p class="quality-note" data-k="quality" data-flag="${f}">${esc(t("live.quality." + f))}</p>`).join("");
}

function talk(w) {
  if (flagged(w, "audio_starved")) return `<p class="quality-note" data-k="talk" data-flag="audio_starved">${t("live.quality.audio_starved")}</p>`;
  if (w.speech_share === null || w.speech_share === undefined) return `<p class="muted">${t("live.talk.none")}</p>`;
  if (w.teacher_talk_share === null || w.teacher_talk_share === undefined) {
    return hbar([{ label: t("metric.talk"), value: w.speech_share, color: C.students }, { label: "", value: 1 - w.speech_share, color: C.quiet }]);
  }
  const s = w.speech_share;
  return hbar([{ label: t("live.talk.teacher"), value: s * w.teacher_talk_share, color: C.teacher },
    { label: t("live.talk.students"), value: s * (1 - w.teacher_talk_share), color: C.students },
    { label: "", value: 1 - s, color: C.quiet }]);
}

function tone(w) {
  if (w.policy !== "full") return `<p class="muted" data-k="tone">${t("live.tone.off")}</p>`;
  if (!w.tone_mix) return `<p class="muted" data-k="tone">${t("live.tone.none")}</p>`;
  const parts = Object.entries(w.tone_mix).sort((a, b) => b[1] - a[1])
    .map(([k, v], i) => ({ label: t("tone." + k), value: v, color: TONE_COLORS[i % TONE_COLORS.length] }));
  return `<div data-k="tone">${hbar(parts)}</div>`;
}

function ivText(iv) {  // the catalogue's entries are translated by id; a school's own text as written
  const key = `iv.${iv.id}`, tr = t(key);
  return tr === key ? iv.text : tr;
}

function classCard(list, sections) {
  const items = list.map((w) => `<div class="warning" data-warning="${esc(w.id)}">
      <span class="lvl l${w.level}">${t("level." + w.level)}</span>
      <div><div class="who-s">${esc(sections[w.section] || w.section)} · ${t("type." + w.type)}</div>
        <div>${(w.reasons || []).map((r) => esc(t(r.key, r.params))).join(" ")}</div>
        ${w.intervention ? `<div class="muted">${t("warn.intervention")}: ${esc(ivText(w.intervention))}</div>` : ""}
        <div class="muted" data-k="state">${t("state." + w.state)}</div></div>
      ${w.state === "acknowledge" ? "" : `<div class="acts"><button class="btn" data-ack="1">${t("warn.ack")}</button></div>`}</div>`);
  return `<div class="card class-warnings"><h2>${t("teacher.class_warnings")}</h2>${staleNotice(list)}
    ${items.length ? items.join("") : `<p class="muted">${t("teacher.no_class_warnings")}</p>`}</div>`;
}

export async function mount(el, { bus }) {
  let data = null, suggestion = null, assistTimer = null, loading = null, classWarnings = [];
  const handled = new Set();

  function chart() {
    const L = data.lesson, ws = data.windows;
    // the x axis is the lesson, start to end, so "where are we in the lesson" reads at a glance; only a slot
    // longer than three hours (an all-day slot) falls back to the last 90 minutes around the data
    const last = Math.max(...ws.map((w) => Date.parse(w.window_end))), MIN = 60000;
    const s0 = Date.parse(L.start_utc), s1 = Date.parse(L.end_utc);
    const long = s1 - s0 > 180 * MIN;
    const x0 = long ? Math.max(s0, Math.min(...ws.map((w) => Date.parse(w.window_start))), last - 90 * MIN) : s0;
    const x1 = long ? Math.max(last, Math.min(s1, Math.max(x0 + 45 * MIN, last + 5 * MIN))) : Math.max(s1, last);
    const pts = (k) => ws.map((w) => ({ x: Date.parse(w.window_end), y: w[k] }));
    const mid = (x0 + x1) / 2;
    return lineChart({ series: [{ values: pts("attention_share"), color: C.att }, { values: pts("engagement"), color: C.eng }],
      usual: [{ y: data.usual.attention_share, color: C.att }, { y: data.usual.engagement, color: C.eng }], x0, x1,
      labels: [{ t: x0, text: hhmm(new Date(x0).toISOString()) }, { t: mid, text: hhmm(new Date(mid).toISOString()) }, { t: x1, text: hhmm(new Date(x1).toISOString()) }] });
  }

  function assistCard() {
    if (!suggestion || handled.has(suggestion.id)) return "";
    return `<div class="card assist" data-suggestion="${esc(suggestion.id)}"><h2>${t("assist.title")}</h2>
      <p><b>${esc(t(suggestion.key, suggestion.params))}</b></p><p class="reason">${esc(t(suggestion.reason_key, suggestion.params))}</p>
      <div class="row"><button class="btn primary" data-fb="useful">${t("assist.useful")}</button>
      <button class="btn" data-fb="dismissed">${t("assist.dismiss")}</button></div></div>`;
  }

  function render() {
    const L = data.lesson, ws = data.windows || [];
    let h = `<div class="live" data-state="${data.state}" data-last-msg="${ws.length ? ws[ws.length - 1].msg_id : ""}">`;
    if (!L) {
      const n = data.next;
      h += `<div class="card state-box"><div class="big"><span class="pill outside">${t("state.outside")}</span></div>
        <p>${n ? esc(t("state.outside.next", { title: data.sections[n.section_id] || n.section_id, when: n.start_local })) : t("state.outside.none")}</p></div>`;
      el.innerHTML = h + classCard(classWarnings, data.sections || {}) + "</div>";
      return;
    }
    h += `<div class="head"><h1>${esc(L.title)}</h1><span>${esc(L.room_name || t("live.room", { room: L.room }))} · ${esc(L.start_local)}–${esc(L.end_local)}</span>
      <span class="pill ${data.state}" data-k="state">${t("state." + data.state)}</span>
      ${ws.length ? `<span class="muted">${esc(t("live.updated", { time: hhmm(ws[ws.length - 1].window_end) }))}</span>` : ""}</div>`;
    if (data.state === "offline") {
      const d = data.device || {};
      h += `<div class="card state-box"><div class="big">${t("state.offline")}</div><p>${esc(d.device ? t("state.offline.detail", { when: ago(d.last_seen) }) : t("state.offline.never"))}</p></div>`;
    } else if (!ws.length) {
      h += `<div class="card state-box"><div class="big">${t("state.no_data")}</div><p>${t("state.no_data.detail")}</p></div>`;
    }
    if (ws.length) {
      const w = ws[ws.length - 1], u = data.usual || {};
      const hands = ws.reduce((a, x) => a + (x.hand_raises || 0), 0);
      const starved = flagged(w, "vision_starved"), paused = { text: t("live.quality.paused"), cls: "paused" };
      h += assistCard();
      h += `<div class="side"><div class="card chart"><h2>${t("live.chart")}</h2>${chart()}
        <div class="legend"><span><i class="att"></i>${t("metric.attention")}</span><span><i class="eng"></i>${t("metric.engagement")}</span>
        <span><i class="usual"></i>- - ${t("live.usual")}</span></div></div>
        <div class="card zones"><h2>${t("live.zones")}</h2>${starved ? `<p class="quality-note">${t("live.quality.paused")}</p>` : w.zones && w.zones.length
          ? zoneMap(w.zones, { k: data.zone_k, frontLabel: t("live.zones.front") }) + `<p class="muted">${esc(t("live.zones.blank", { k: data.zone_k }))}</p>`
          : `<p class="muted">${t("live.zones.none")}</p>`}</div></div>`;
      h += `<div class="side"><div class="metrics">
        ${metric("attention", t("metric.attention"), pct(w.attention_share), starved ? paused : vsUsual(w.attention_share, u.attention_share))}
        ${metric("participation", t("metric.participation"), pct(w.participation), starved ? paused : vsUsual(w.participation, u.participation))}
        ${metric("hands", t("metric.hands"), String(w.hand_raises ?? "–"), starved ? paused : { text: t("live.hands.lesson", { n: hands }), cls: "" })}
        ${metric("faces", t("metric.faces"), String(w.n_faces ?? "–"), starved ? paused : { text: "", cls: "" })}</div>
        ${qualityNote(w)}
        <div class="card"><h2>${t("metric.talk")}</h2>${talk(w)}</div>
        <div class="card"><h2>${t("metric.tone")}</h2>${tone(w)}</div></div>`;
    }
    el.innerHTML = h + classCard(classWarnings, data.sections || {}) + "</div>";
  }

  async function fetchAssist() {
    if (!data || data.state !== "live" || !data.lesson) return;
    try {
      const r = await api(`/api/sections/${encodeURIComponent(data.lesson.section_id)}/assistant`);
      const before = suggestion && suggestion.id;
      suggestion = r.suggestion;
      if ((suggestion && suggestion.id) !== before) render();
    } catch { /* the suggestion is optional; the live numbers matter */ }
  }

  function scheduleAssist() { clearTimeout(assistTimer); assistTimer = setTimeout(fetchAssist, 400); }

  async function load() {
    if (loading) return loading;
    loading = (async () => {
      try {
        const [live, cw] = await Promise.all([api("/api/live"), api("/api/warnings/classes").catch(() => ({ warnings: [] }))]);
        data = live;
        classWarnings = cw.warnings || [];
        render();
        scheduleAssist();
      } finally { loading = null; }
    })();
    return loading;
  }

  el.addEventListener("click", async (e) => {
    const ack = e.target.closest("[data-ack]");
    if (ack) {
      const id = ack.closest("[data-warning]").dataset.warning;
      await api(`/api/warnings/${encodeURIComponent(id)}/action`, { method: "POST", body: { action: "acknowledge", note: "" } });
      toast(t("state.acknowledge"));
      const cw = classWarnings.find((w) => w.id === id);
      if (cw) cw.state = "acknowledge";
      render();
      return;
    }
    const b = e.target.closest("[data-fb]");
    if (!b || !suggestion) return;
    const s = suggestion;
    handled.add(s.id);
    render();
    await api("/api/assistant/feedback", { method: "POST", body: { section_id: data.lesson.section_id, session_id: data.lesson.session_id,
      suggestion_id: s.id, rule_id: s.rule_id, verdict: b.dataset.fb, value: s.value, usual: s.usual } });
    toast(t("assist.thanks"));
  });

  const off = bus.on((ev) => {
    if (!data) return;
    if (!data.lesson || ev.section_id !== data.lesson.section_id || ev.session_id !== data.lesson.session_id) {
      if (ev.section_id && ev.section_id in data.sections) load();
      return;
    }
    const w = ev.window;
    if (!data.windows.some((x) => x.device === w.device && x.msg_id === w.msg_id)) {
      data.windows.push(w);
      data.windows.sort((a, b) => Date.parse(a.window_start) - Date.parse(b.window_start));
    }
    data.state = "live";
    render();
    scheduleAssist();
  });
  const timer = setInterval(load, 30000);
  await load();
  return () => { off(); clearInterval(timer); clearTimeout(assistTimer); };
}
