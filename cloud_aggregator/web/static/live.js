// Live engagement per room: initial state from the API, then server-sent events.
const rooms = new Map();   // room -> list of aggregates (newest last)
const main = document.getElementById("rooms");
const pct = (x) => (x === null || x === undefined ? "–" : Math.round(x * 100) + "%");

function spark(values) {
  const w = 280, h = 48, pts = values.filter((v) => v !== null);
  if (pts.length < 2) return "";
  const step = w / (values.length - 1);
  const d = values.map((v, i) => `${(i * step).toFixed(1)},${(h - (v ?? 0) * h).toFixed(1)}`).join(" ");
  return `<svg class="spark" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none"><polyline fill="none" stroke="#0b6e99" stroke-width="2" points="${d}"/></svg>`;
}

function render() {
  document.getElementById("empty")?.remove();
  main.innerHTML = "";
  for (const [room, list] of [...rooms.entries()].sort()) {
    const a = list[list.length - 1];
    const age = (Date.now() - Date.parse(a.window_end)) / 1000;
    const el = document.createElement("section");
    el.className = "room" + (age > 300 ? " stale" : "");
    el.dataset.room = room;
    el.innerHTML = `<h2>${room}</h2><div class="when">${new Date(a.window_end).toLocaleTimeString()} · ${a.device}</div>
      <div class="big" data-k="engagement">${pct(a.engagement)}</div><div>engagement · 参与度</div>
      ${spark(list.map((x) => x.engagement))}
      <div class="metrics">
        <div class="metric"><b data-k="n_faces">${a.n_faces}</b>faces · 人数</div>
        <div class="metric"><b data-k="attention_share">${pct(a.attention_share)}</b>attention · 专注</div>
        <div class="metric"><b data-k="speech_share">${pct(a.speech_share)}</b>talk · 发言</div>
        <div class="metric"><b data-k="hand_raises">${a.hand_raises}</b>hands · 举手</div>
      </div>`;
    main.appendChild(el);
  }
}

function add(a) {
  const list = rooms.get(a.room) ?? [];
  if (!list.some((x) => x.device === a.device && x.msg_id === a.msg_id)) list.push(a);
  list.sort((x, y) => Date.parse(x.window_start) - Date.parse(y.window_start));
  rooms.set(a.room, list.slice(-60));
}

async function init() {
  const latest = await (await fetch("/api/rooms/latest")).json();
  latest.forEach(add);
  if (latest.length) render();
  const es = new EventSource("/api/events");
  const conn = document.getElementById("conn");
  es.onopen = () => { conn.textContent = "live"; conn.className = "conn on"; };
  es.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn off"; };
  es.addEventListener("aggregate", (e) => { add(JSON.parse(e.data)); render(); });
}
init();
