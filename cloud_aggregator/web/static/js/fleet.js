// IT fleet view: devices online/offline, last seen, temperature, outbox, fps, models, policy;
// enrolment tokens (re-key only when asked), room moves (the only way a device changes room), model updates,
// and recent dead letters (reasons, never payloads).
import { api, ApiError, esc, toast } from "./api.js";
import { ago, loadingBox, t } from "./i18n.js";

const ID = "[a-z0-9][a-z0-9_\\-]{0,63}"; // the wire contract's id pattern (classpulse_contract.ID_PATTERN)
// analysed frames/s; below the device's target it is marked in the warning colour and said in words
function fpsCell(d) {
  if (!d.fps_behind) return `<td data-k="fps">${num(d.fps, 1)}</td>`;
  const level = d.vision_level ? `<br><span class="muted">${esc(t("fleet.fps.level", { name: d.vision_level_name || d.vision_level }))}</span>` : "";
  return `<td class="warn" data-k="fps">${num(d.fps, 1)}<br><span>${esc(t("fleet.fps.behind", { target: num(d.target_fps, 1) }))}</span>${level}</td>`;
}

const num = (x, d = 0) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
const DL_PAGE = 20;
const POLICIES = new Set(["full", "no-emotion", "off"]);  // the agent config's policy values

// outbox depth, how long its oldest window has waited for the aggregator, and whether acks are seen at all
function outbox(d) {
  const s = d.outbox_oldest_unconfirmed_s;
  const age = s === null || s === undefined ? "" : s < 90 ? t("fleet.outbox.oldest_s", { n: Math.round(s) })
    : s < 5400 ? t("fleet.outbox.oldest_m", { n: Math.round(s / 60) }) : t("fleet.outbox.oldest_h", { n: Math.round(s / 3600) });
  const broker = d.delivery_confirmation === "broker" ? `<br><span class="bad" data-k="puback-only">${esc(t("fleet.outbox.broker_only"))}</span>` : "";
  return `${num(d.outbox_depth)}${age ? `<br><span class="muted" data-k="outbox-age">${esc(age)}</span>` : ""}${broker}`;
}

// Model versions are long build strings; the table shows a short form, the full string on hover/long-press.
function shortVersion(v) {
  const s = String(v ?? "");
  const m = /(\d+\.\d+(?:\.\d+)?)/.exec(s);
  return m ? m[1] : s.slice(0, 14);
}

function models(d) {
  const rows = Object.entries(d.model_versions).map(([k, v]) =>
    `<span class="model" title="${esc(v)}">${esc(k)} <span class="muted">${esc(shortVersion(v))}</span></span>`);
  return (rows.join("") || "–") + (d.last_model_update ? `<br><span class="muted" data-k="last-update">${esc(d.last_model_update)}</span>` : "");
}

export async function mount(el) {
  el.innerHTML = `<div class="card"><h1>${t("fleet.title")}</h1><p id="fleet-sum" class="muted"></p><div class="tablewrap" id="fleet-table"></div></div>
    <div class="grid2">
      <form class="card" id="token-form"><h2>${t("fleet.token.title")}</h2>
        <label><span>${t("fleet.token.site")}</span><input name="site" required pattern="${ID}"></label>
        <label><span>${t("fleet.token.room")}</span><input name="room" required pattern="${ID}"></label>
        <label><span>${t("fleet.token.device")}</span><input name="device" required pattern="${ID}"></label>
        <label class="check"><input type="checkbox" name="rekey"> <span>${t("fleet.token.rekey")}</span></label>
        <button class="btn primary" type="submit">${t("fleet.token.issue")}</button><div id="token-out"></div></form>
      <form class="card" id="move-form"><h2>${t("fleet.move.title")}</h2><p class="muted">${t("fleet.move.hint")}</p>
        <label><span>${t("fleet.device")}</span><select name="device" id="move-device"></select></label>
        <label><span>${t("fleet.token.site")}</span><input name="site" required pattern="${ID}"></label>
        <label><span>${t("fleet.token.room")}</span><input name="room" required pattern="${ID}"></label>
        <button class="btn primary" type="submit">${t("fleet.move.submit")}</button><div id="move-out"></div></form>
      <form class="card" id="update-form"><h2>${t("fleet.update.title")}</h2>
        <label><span>${t("fleet.device")}</span><select name="device" id="update-device"></select></label>
        <label><span>${t("fleet.update.model")}</span><input name="model" required value="expression"></label>
        <label><span>${t("fleet.update.version")}</span><input name="version" required></label>
        <label><span>${t("fleet.update.url")}</span><input name="url" type="url" pattern="https://.+" placeholder="https://…" required></label>
        <label><span>${t("fleet.update.sha256")}</span><input name="sha256" required pattern="[0-9a-f]{64}"></label>
        <button class="btn primary" type="submit">${t("fleet.update.push")}</button></form>
    </div>
    <div class="card grid1"><h2>${t("fleet.commands")}</h2><div class="tablewrap" id="cmds">${loadingBox()}</div></div>
    <div class="card grid1" id="dead-letters"><h2>${t("fleet.dl.title")}</h2><p class="muted" id="dl-sum"></p>
      <div class="tablewrap" id="dl-table"></div>
      <p><button class="btn" type="button" id="dl-newer">${t("fleet.dl.newer")}</button>
        <span class="muted" id="dl-range"></span>
        <button class="btn" type="button" id="dl-older">${t("fleet.dl.older")}</button></p></div>`;
  document.getElementById("fleet-table").innerHTML = loadingBox();
  let dlOffset = 0;

  async function loadDeadLetters() {
    const r = await api(`/api/fleet/deadletters?limit=${DL_PAGE}&offset=${dlOffset}`);
    document.getElementById("dl-sum").textContent = t("fleet.dl.summary", { total: r.total });
    document.getElementById("dl-table").innerHTML = r.items.length ? `<table><tr><th>${t("fleet.dl.when")}</th><th>${t("fleet.device")}</th>
      <th>${t("fleet.dl.count")}</th><th>${t("fleet.dl.size")}</th><th>${t("fleet.dl.reason")}</th></tr>${r.items.map((d) => `<tr data-dl="${esc(d.id.slice(0, 12))}">
      <td title="${esc(d.last_seen || d.received_at)}">${esc(ago(d.last_seen || d.received_at))}</td><td>${esc(d.device || "–")}</td>
      <td>${num(d.count)}</td><td>${num(d.size)} B</td><td>${esc(d.reason)}</td></tr>`).join("")}</table>`
      : `<p class="muted">${t("fleet.dl.none")}</p>`;
    document.getElementById("dl-range").textContent = r.total ? t("fleet.dl.range", { from: r.offset + 1, to: r.offset + r.items.length, total: r.total }) : "";
    document.getElementById("dl-newer").disabled = r.offset === 0;
    document.getElementById("dl-older").disabled = r.offset + r.items.length >= r.total;
  }
  el.querySelector("#dl-newer").addEventListener("click", () => { dlOffset = Math.max(0, dlOffset - DL_PAGE); loadDeadLetters(); });
  el.querySelector("#dl-older").addEventListener("click", () => { dlOffset += DL_PAGE; loadDeadLetters(); });

  async function load() {
    const r = await api("/api/fleet");
    document.getElementById("fleet-sum").textContent = t("fleet.summary", { online: r.online, total: r.total });
    document.getElementById("fleet-table").innerHTML = r.devices.length ? `<table><tr><th>${t("fleet.device")}</th><th>${t("fleet.room")}</th>
      <th>${t("fleet.status")}</th><th>${t("fleet.last_seen")}</th><th>${t("fleet.temp")}</th><th>${t("fleet.outbox")}</th><th>${t("fleet.fps")}</th>
      <th>${t("fleet.models")}</th><th>${t("fleet.policy")}</th></tr>${r.devices.map((d) => `<tr data-device="${esc(d.device)}">
      <td>${esc(d.device)}</td><td title="${esc(d.site)}/${esc(d.room)}">${esc(d.room_name || d.site + "/" + d.room)}</td>
      <td class="${d.online ? "ok" : "bad"}" data-k="status">${t(d.online ? "fleet.online" : "fleet.offline")}</td>
      <td>${esc(ago(d.last_seen))}</td><td>${num(d.temp_c, 1)}${d.temp_c === null || d.temp_c === undefined ? "" : " °C"}</td>
      <td>${outbox(d)}</td>${fpsCell(d)}
      <td class="models">${models(d)}</td><td title="${esc(d.policy || "")}">${esc(POLICIES.has(d.policy) ? t(`fleet.policy.${d.policy}`) : (d.policy || "–"))}</td></tr>`).join("")}</table>`
      : `<p class="muted">${t("fleet.none")}</p>`;
    for (const id of ["update-device", "move-device"]) {
      const sel = document.getElementById(id), keep = sel.value;
      sel.innerHTML = r.devices.map((d) => `<option value="${esc(d.device)}">${esc(d.device)}</option>`).join("");
      if (keep) sel.value = keep;
    }
    const cmds = await api("/api/fleet/commands");
    document.getElementById("cmds").innerHTML = cmds.length ? `<table>${cmds.map((c) => `<tr><td>${esc(c.issued_at.slice(0, 19).replace("T", " "))}</td>
      <td>${esc(c.device)}</td><td>${esc(c.command)} ${esc(c.args.model || "")} ${esc(c.args.version || "")}</td><td>${esc(c.issued_by)}</td>
      <td class="${c.result_ok === null ? "" : c.result_ok ? "ok" : "bad"}">${t(c.result_ok === null ? "fleet.cmd.pending" : c.result_ok ? "fleet.cmd.ok" : "fleet.cmd.failed")} ${esc(c.result_detail || "")}</td></tr>`).join("")}</table>` : "–";
    await loadDeadLetters();
  }

  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fd = Object.fromEntries(new FormData(e.target));
    const refused = (out, ex) => {
      if (!(ex instanceof ApiError)) throw ex;
      const code = ex.headers && ex.headers.get("x-refusal"), key = `fleet.refused.${code}`;
      const why = code && t(key) !== key ? t(key) : ex.message; // our words for known refusals, else the server's
      document.getElementById(out).innerHTML = `<p class="bad" data-k="refused" data-code="${esc(code || "")}">${esc(t("fleet.refused"))}${esc(why)}</p>`;
    };
    if (e.target.id === "token-form") {
      try {
        const r = await api("/api/fleet/tokens", { method: "POST",
          body: { site: fd.site, room: fd.room, device: fd.device, rekey: fd.rekey === "on" } });
        document.getElementById("token-out").innerHTML = `<p>${esc(t("fleet.token.shown_once", { h: r.expires_in_h }))}</p><code class="token" data-k="token">${esc(r.token)}</code>`;
      } catch (ex) { refused("token-out", ex); }
    } else if (e.target.id === "move-form") {
      try {
        const r = await api(`/api/fleet/${encodeURIComponent(fd.device)}/room`, { method: "PUT", body: { site: fd.site, room: fd.room } });
        document.getElementById("move-out").innerHTML = `<p class="ok" data-k="moved">${esc(t("fleet.move.done",
          { device: r.device, from: `${r.previous.site}/${r.previous.room}`, to: `${r.site}/${r.room}` }))}</p>`;
        load();
      } catch (ex) { refused("move-out", ex); }
    } else {
      const { device, ...body } = fd;
      await api(`/api/fleet/${encodeURIComponent(device)}/model-update`, { method: "POST", body });
      toast(t("fleet.update.sent", { device }));
      load();
    }
  });
  await load();
  const timer = setInterval(load, 10000);
  return () => clearInterval(timer);
}
