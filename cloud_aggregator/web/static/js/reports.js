// Weekly reports (PDF / CSV) for the scopes the user may request; plain links, so the browser downloads them.
import { api, esc } from "./api.js";
import { lang, t } from "./i18n.js";

export async function mount(el) {
  const scopes = await api("/api/reports/scopes");
  if (!scopes.length) {  // a teacher with no timetabled class yet: say so instead of an empty picker
    el.innerHTML = `<div class="card"><h1>${t("reports.title")}</h1><p class="muted" data-k="empty">${t("reports.none")}</p></div>`;
    return;
  }
  const today = new Date().toISOString().slice(0, 10);
  el.innerHTML = `<div class="card"><h1>${t("reports.title")}</h1>
    <div class="row"><label class="grow"><span>${t("reports.scope")}</span><select id="rep-scope">${scopes.map((s) =>
      `<option value="${esc(s.scope)}">${esc(s.title)}</option>`).join("")}</select></label>
    <label><span>${t("reports.week")}</span><input id="rep-week" type="date" value="${today}"></label></div>
    <div class="row"><a class="btn primary" id="rep-pdf" download>${t("reports.pdf")}</a><a class="btn" id="rep-csv" download>${t("reports.csv")}</a></div>
    <p class="muted">${t("reports.note")}</p></div>`;
  const update = () => {
    const q = (fmt) => "/api/reports/weekly?" + new URLSearchParams({ scope: document.getElementById("rep-scope").value,
      week: document.getElementById("rep-week").value || today, format: fmt, lang });
    document.getElementById("rep-pdf").href = q("pdf");
    document.getElementById("rep-csv").href = q("csv");
  };
  el.addEventListener("change", update);
  update();
}
