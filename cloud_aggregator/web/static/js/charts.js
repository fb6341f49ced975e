// Small inline-SVG charts (no library, no CDN). Values are shares in [0, 1] unless said otherwise.
import { esc } from "./api.js";

const f1 = (x) => x.toFixed(1);

export function lineChart({ series, usual = [], x0, x1, w = 800, h = 260, labels = [] }) {
  const L = 44, R = 12, T = 12, B = 28, iw = w - L - R, ih = h - T - B;
  const X = (t) => L + (x1 > x0 ? ((t - x0) / (x1 - x0)) * iw : 0);
  const Y = (v) => T + ih - v * ih;
  let s = `<svg viewBox="0 0 ${w} ${h}" role="img">`;
  for (const g of [0, 0.25, 0.5, 0.75, 1]) {
    s += `<line x1="${L}" x2="${w - R}" y1="${f1(Y(g))}" y2="${f1(Y(g))}" stroke="#e3e8ec"/>`;
    s += `<text x="${L - 6}" y="${f1(Y(g) + 4)}" font-size="12" text-anchor="end" fill="#5f6b76">${g * 100}%</text>`;
  }
  labels.forEach((lb, i) => {
    const anchor = i === 0 ? "start" : i === labels.length - 1 ? "end" : "middle";
    s += `<text x="${f1(X(lb.t))}" y="${h - 8}" font-size="12" text-anchor="${anchor}" fill="#5f6b76">${esc(lb.text)}</text>`;
  });
  for (const u of usual) {
    if (u.y === null || u.y === undefined) continue;
    s += `<line x1="${L}" x2="${w - R}" y1="${f1(Y(u.y))}" y2="${f1(Y(u.y))}" stroke="${u.color}" stroke-width="2" stroke-dasharray="6 5"/>`;
  }
  for (const se of series) {
    // a window whose value was not measured (null) breaks the line: a gap, never a dip to 0
    const runs = [[]];
    for (const p of se.values) {
      if (p.y === null || p.y === undefined) { if (runs[runs.length - 1].length) runs.push([]); } else runs[runs.length - 1].push(p);
    }
    const pts = runs.flat();
    if (!pts.length) continue;
    for (const run of runs.filter((r) => r.length)) {
      const d = run.map((p) => `${f1(X(p.x))},${f1(Y(p.y))}`).join(" ");
      s += run.length > 1 ? `<polyline fill="none" stroke="${se.color}" stroke-width="3" stroke-linejoin="round" points="${d}"/>`
        : `<circle cx="${d.split(",")[0]}" cy="${d.split(",")[1]}" r="3" fill="${se.color}"/>`;
    }
    const last = pts[pts.length - 1];
    s += `<circle cx="${f1(X(last.x))}" cy="${f1(Y(last.y))}" r="5" fill="${se.color}"/>`;
  }
  return s + "</svg>";
}

export function hbar(parts, { w = 320, h = 26 } = {}) {
  // one stacked bar, then a legend line (label + share) under it in each part's colour
  const total = parts.reduce((a, p) => a + (p.value || 0), 0) || 1;
  let x = 0, lx = 0, s = `<svg viewBox="0 0 ${w} ${h + 24}" role="img">`;
  for (const p of parts) {
    const pw = ((p.value || 0) / total) * w;
    if (pw > 0) s += `<rect x="${f1(x)}" y="0" width="${f1(pw)}" height="${h}" fill="${p.color}"/>`;
    x += pw;
    if (!p.label) continue;
    const text = `${p.label} ${Math.round(((p.value || 0) / total) * 100)}%`;
    s += `<text x="${f1(lx)}" y="${h + 18}" font-size="13" fill="${p.color}">${esc(text)}</text>`;
    lx += text.length * 9 + 14;
  }
  return s + "</svg>";
}

// Seat zones named r<row>c<col> (row 0 = front, by the board) form a grid; other names sit in one row.
export function zoneMap(zones, { k, frontLabel, w = 520 }) {
  const cells = zones.map((z, i) => {
    const m = /^r(\d+)c(\d+)$/.exec(z.zone);
    return { ...z, r: m ? +m[1] : 0, c: m ? +m[2] : i };
  });
  const rows = Math.max(...cells.map((c) => c.r)) + 1, cols = Math.max(...cells.map((c) => c.c)) + 1;
  const cw = w / cols, ch = Math.min(cw * 0.7, 90), top = 26, h = top + rows * ch;
  let s = `<svg viewBox="0 0 ${w} ${f1(h)}" role="img"><rect x="0" y="0" width="${w}" height="18" rx="4" fill="#37474f"/>`;
  s += `<text x="${w / 2}" y="13" font-size="12" text-anchor="middle" fill="#fff">${esc(frontLabel)}</text>`;
  for (const c of cells) {
    const x = c.c * cw + 3, y = top + c.r * ch + 3, shown = c.attention_share !== null && c.attention_share !== undefined && c.n_faces >= k;
    const fill = shown ? `hsl(${Math.round(c.attention_share * 120)}, 60%, 45%)` : "#eef1f4";
    s += `<rect data-zone="${esc(c.zone)}" data-blank="${shown ? 0 : 1}" x="${f1(x)}" y="${f1(y)}" width="${f1(cw - 6)}" height="${f1(ch - 6)}" rx="8" fill="${fill}" stroke="#cfd8dc"/>`;
    if (shown) s += `<text x="${f1(x + (cw - 6) / 2)}" y="${f1(y + ch / 2 + 2)}" font-size="18" font-weight="700" text-anchor="middle" fill="#fff">${Math.round(c.attention_share * 100)}%</text>`;
  }
  return s + "</svg>";
}

export function radar(axes, { w = 360, pad = 125 } = {}) {
  // labels sit outside the web, anchored away from the centre, inside a viewBox padded on both sides
  const cx = w / 2, cy = w / 2, r = w / 2 - 60, n = axes.length;
  const P = (i, v) => [cx + Math.sin((2 * Math.PI * i) / n) * r * v, cy - Math.cos((2 * Math.PI * i) / n) * r * v];
  let s = `<svg viewBox="${-pad} 0 ${w + 2 * pad} ${w}" role="img">`;
  for (const g of [0.25, 0.5, 0.75, 1]) {
    s += `<polygon points="${axes.map((_, i) => P(i, g).map(f1).join(",")).join(" ")}" fill="none" stroke="#dde3e8"/>`;
  }
  axes.forEach((a, i) => {
    const [x, y] = P(i, 1), [lx, ly] = P(i, 1.14);
    const anchor = Math.abs(lx - cx) < 8 ? "middle" : lx < cx ? "end" : "start";
    const dy = ly < cy - 8 ? -16 : ly > cy + 8 ? 8 : -4;
    s += `<line x1="${cx}" y1="${cy}" x2="${f1(x)}" y2="${f1(y)}" stroke="#dde3e8"/>`;
    const val = a.value === null || a.value === undefined ? "–" : Math.round(a.value * 100) + "%";
    s += `<text x="${f1(lx)}" y="${f1(ly + dy)}" font-size="17" text-anchor="${anchor}" fill="#1b1f24">${esc(a.label)}</text>`;
    s += `<text x="${f1(lx)}" y="${f1(ly + dy + 18)}" font-size="15" text-anchor="${anchor}" fill="#5f6b76">${val}</text>`;
  });
  const pts = axes.map((a, i) => P(i, a.value ?? 0).map(f1).join(",")).join(" ");
  s += `<polygon points="${pts}" fill="rgba(11,110,153,.25)" stroke="#0b6e99" stroke-width="2"/>`;
  return s + "</svg>";
}

export function smallLines(rows, keys, { w = 480, h = 210 } = {}) {
  // rows: [{label, <key>: value in [0,1] or null}], keys: [{key, color, label}]. Drawn near 1:1 in its card
  // (w ≈ the card's width) so 13 px text stays 13 px; end labels are anchored inside the box.
  const L = 44, R = 16, T = 10, B = 26, iw = w - L - R, ih = h - T - B, n = rows.length;
  const X = (i) => L + (n > 1 ? (i / (n - 1)) * iw : iw / 2), Y = (v) => T + ih - v * ih;
  let s = `<svg viewBox="0 0 ${w} ${h}" role="img">`;
  for (const g of [0, 0.5, 1]) s += `<line x1="${L}" x2="${w - R}" y1="${f1(Y(g))}" y2="${f1(Y(g))}" stroke="#e3e8ec"/><text x="${L - 5}" y="${f1(Y(g) + 4)}" font-size="13" text-anchor="end" fill="#5f6b76">${g * 100}%</text>`;
  const every = Math.max(1, Math.ceil(n / 8));  // at most ~8 week labels
  rows.forEach((r, i) => {
    if (i % every && i !== n - 1) return;
    const anchor = n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle";
    s += `<text x="${f1(X(i))}" y="${h - 6}" font-size="13" text-anchor="${anchor}" fill="#5f6b76">${esc(r.label)}</text>`;
  });
  for (const k of keys) {
    const pts = rows.map((r, i) => [i, r[k.key]]).filter(([, v]) => v !== null && v !== undefined);
    if (pts.length) s += `<polyline fill="none" stroke="${k.color}" stroke-width="2.5" points="${pts.map(([i, v]) => `${f1(X(i))},${f1(Y(v))}`).join(" ")}"/>`;
    for (const [i, v] of pts) s += `<circle cx="${f1(X(i))}" cy="${f1(Y(v))}" r="3.5" fill="${k.color}"/>`;
  }
  return s + "</svg>";
}
