// IT fleet view: devices online/offline, last seen, temperature, outbox, fps, models, policy;
// enrolment tokens and model-update commands.
import { api, esc, toast } from "./api.js";
import { ago, loadingBox, t } from "./i18n.js";

// analysed frames/s; below the device's target it is marked in the warning colour and said in words
function fpsCell(d) {
  if (!d.fps_behind) return `<td data-k="fps">${num(d.fps, 1)}</td>`;
  const level = d.vision_level ? `<br><span class="muted">${esc(t("fleet.fps.level", { name: d.vision_level_name || d.vision_level }))}</span>` : "";
  return `<td class="warn" data-k="fps">${num(d.fps, 1)}<br><span>${esc(t("fleet.fps.behind", { target: num(d.target_fps, 1) }))}</span>${level}</td>`;
}

const num = (x, d = 0) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));

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
        <label><span>${t("fleet.token.site")}</span><input name="site" required pattern="[A-Za-z0-9_.:@-]+"></label>
        <label><span>${t("fleet.token.room")}</span><input name="room" required pattern="[A-Za-z0-9_.:@-]+"></label>
        <label><span>${t("fleet.token.device")}</span><input name="device" required pattern="[A-Za-z0-9_-]+"></label>
        <button class="btn primary" type="submit">${t("fleet.token.issue")}</button><div id="token-out"></div></form>
      <form class="card" id="update-form"><h2>${t("fleet.update.title")}</h2>
        <label><span>${t("fleet.device")}</span><select name="device" id="update-device"></select></label>
        <label><span>${t("fleet.update.model")}</span><input name="model" required value="expression"></label>
        <label><span>${t("fleet.update.version")}</span><input name="version" required></label>
        <label><span>${t("fleet.update.url")}</span><input name="url" type="url" pattern="https://.+" placeholder="https://…" required></label>
        <label><span>${t("fleet.update.sha256")}</span><input name="sha256" required pattern="[0-9a-f]{64}"></label>
        <button class="btn primary" type="submit">${t("fleet.update.push")}</button></form>
    </div>
    <div class="card grid1"><h2>${t("fleet.commands")}</h2><div class="tablewrap" id="cmds">${loadingBox()}</div></div>`;
  document.getElementById("fleet-table").innerHTML = loadingBox();

  async function load() {
    const r = await api("/api/fleet");
    document.getElementById("fleet-sum").textContent = t("fleet.summary", { online: r.online, total: r.total });
    document.getElementById("fleet-table").innerHTML = r.devices.length ? `<table><tr><th>${t("fleet.device")}</th><th>${t("fleet.room")}</th>
      <th>${t("fleet.status")}</th><th>${t("fleet.last_seen")}</th><th>${t("fleet.temp")}</th><th>${t("fleet.outbox")}</th><th>${t("fleet.fps")}</th>
      <th>${t("fleet.models")}</th><th>${t("fleet.policy")}</th></tr>${r.devices.map((d) => `<tr data-device="${esc(d.device)}">
      <td>${esc(d.device)}</td><td title="${esc(d.site)}/${esc(d.room)}">${esc(d.room_name || d.site + "/" + d.room)}</td>
      <td class="${d.online ? "ok" : "bad"}" data-k="status">${t(d.online ? "fleet.online" : "fleet.offline")}</td>
      <td>${esc(ago(d.last_seen))}</td><td>${num(d.temp_c, 1)}${d.temp_c === null || d.temp_c === undefined ? "" : " °C"}</td>
      <td>${num(d.outbox_depth)}</td>${fpsCell(d)}
      <td class="models">${models(d)}</td><td>${esc(d.policy || "–")}</td></tr>`).join("")}</table>`
      : `<p class="muted">${t("fleet.none")}</p>`;
    const sel = document.getElementById("update-device"), keep = sel.value;
    sel.innerHTML = r.devices.map((d) => `<option value="${esc(d.device)}">${esc(d.device)}</option>`).join("");
    if (keep) sel.value = keep;
    const cmds = await api("/api/fleet/commands");
    document.getElementById("cmds").innerHTML = cmds.length ? `<table>${cmds.map((c) => `<tr><td>${esc(c.issued_at.slice(0, 19).replace("T", " "))}</td>
      <td>${esc(c.device)}</td><td>${esc(c.command)} ${esc(c.args.model || "")} ${esc(c.args.version || "")}</td><td>${esc(c.issued_by)}</td>
      <td class="${c.result_ok === null ? "" : c.result_ok ? "ok" : "bad"}">${t(c.result_ok === null ? "fleet.cmd.pending" : c.result_ok ? "fleet.cmd.ok" : "fleet.cmd.failed")} ${esc(c.result_detail || "")}</td></tr>`).join("")}</table>` : "–";
  }

  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fd = Object.fromEntries(new FormData(e.target));
    if (e.target.id === "token-form") {
      const r = await api("/api/fleet/tokens", { method: "POST", body: { site: fd.site, room: fd.room, device: fd.device } });
      document.getElementById("token-out").innerHTML = `<p>${esc(t("fleet.token.shown_once", { h: r.expires_in_h }))}</p><code class="token" data-k="token">${esc(r.token)}</code>`;
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
