"""Weekly class/department/school report as CSV and PDF (plots via matplotlib Agg, PDF via fpdf2).

Built only from class-level aggregates (filed under a section session by ingest) and, for
roles that may see them, counts of warnings by level — never a student's name or row. Generated
on demand by the API and, when ``report_schedule`` is ``weekly``, every Monday for the week before
by :func:`run_scheduled` (the app starts a small thread for it).
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cloud_aggregator.timetable import parse_session_id

from . import db
from .download import safe_stem
from .i18n import catalogue

log = logging.getLogger(__name__)
logging.getLogger("fontTools").setLevel(logging.WARNING)  # fpdf2's font subsetting logs every table at INFO
TREND_WEEKS = 8


@dataclass
class ReportData:
    scope: str
    title: str
    week_start: date
    sections: list[str]
    sessions: list[dict[str, Any]] = field(default_factory=list)
    heatmap: dict[tuple[str, int], float] = field(default_factory=dict)  # (period, weekday 1-7) -> engagement
    trend: list[dict[str, Any]] = field(default_factory=list)
    warning_counts: dict[int, int] | None = None


def week_monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def session_rows(store: Any, sections: list[str], since: date, until: date) -> list[dict[str, Any]]:  # noqa: ANN401
    """Per section session in [since, until): windows, mean attention/engagement, hand raises."""
    if not sections:
        return []
    per: dict[str, dict[str, Any]] = {}
    for i in range(0, len(sections), 400):
        chunk = sections[i:i + 400]
        for r in db.query(store, "SELECT session_id, section_id, room, COUNT(*) AS n, AVG(attention_share) AS att, "  # noqa: S608
                                 "AVG(engagement) AS eng, AVG(speech_share) AS talk, SUM(hand_raises) AS hands "
                                 f"FROM aggregates WHERE section_id IN {db.in_list(chunk)} AND session_id IS NOT NULL "
                                 "GROUP BY session_id, section_id, room", chunk):
            _, day, period = parse_session_id(r["session_id"])
            if not (since.isoformat() <= day < until.isoformat()):
                continue
            per[r["session_id"]] = {"session_id": r["session_id"], "section_id": r["section_id"], "room": r["room"],
                                    "date": day, "weekday": date.fromisoformat(day).isoweekday(), "period": period,
                                    "windows": int(r["n"]), "attention": r["att"], "engagement": r["eng"],
                                    "talk": r["talk"], "hand_raises": int(r["hands"] or 0)}
        for r in db.query(store, "SELECT * FROM session_summaries WHERE section_id IN "  # noqa: S608
                                 f"{db.in_list(chunk)} AND date >= ? AND date < ?",
                          [*chunk, since.isoformat(), until.isoformat()]):
            per.setdefault(r["session_id"], {
                "session_id": r["session_id"], "section_id": r["section_id"], "room": r["room"], "date": r["date"],
                "weekday": date.fromisoformat(r["date"]).isoweekday(), "period": r["period"],
                "windows": int(r["n_windows"] or 0), "attention": r["attention_mean"],
                "engagement": r["engagement_mean"], "talk": r["speech_mean"], "hand_raises": int(r["hand_raises"] or 0)})
    return sorted(per.values(), key=lambda s: (s["date"], str(s["period"]), s["section_id"]))


def build_report(store: Any, scope: str, title: str, sections: list[str], week_start: date,  # noqa: ANN401
                 warning_counts: dict[int, int] | None = None) -> ReportData:
    week_start = week_monday(week_start)
    rep = ReportData(scope, title, week_start, sorted(sections), warning_counts=warning_counts)
    rep.sessions = session_rows(store, rep.sections, week_start, week_start + timedelta(days=7))
    cells: dict[tuple[str, int], list[float]] = defaultdict(list)
    for s in rep.sessions:
        if s["engagement"] is not None:
            cells[(str(s["period"]), s["weekday"])].append(float(s["engagement"]))
    rep.heatmap = {k: sum(v) / len(v) for k, v in cells.items()}
    first = week_start - timedelta(weeks=TREND_WEEKS - 1)
    by_week: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for s in session_rows(store, rep.sections, first, week_start + timedelta(days=7)):
        by_week[week_monday(date.fromisoformat(s["date"]))].append(s)
    for i in range(TREND_WEEKS):
        wk = first + timedelta(weeks=i)
        ss = by_week.get(wk, [])
        rep.trend.append({"week": wk.isoformat(), "sessions": len(ss),
                          "engagement": _mean([s["engagement"] for s in ss if s["engagement"] is not None]),
                          "attention": _mean([s["attention"] for s in ss if s["attention"] is not None])})
    return rep


def to_csv(rep: ReportData) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["# ClassPulse weekly report", rep.title, "week of", rep.week_start.isoformat()])
    w.writerow(["section_id", "date", "weekday", "period", "room", "windows", "attention", "engagement", "talk",
                "hand_raises"])
    for s in rep.sessions:
        w.writerow([s["section_id"], s["date"], s["weekday"], s["period"], s["room"], s["windows"],
                    _fmt(s["attention"]), _fmt(s["engagement"]), _fmt(s["talk"]), s["hand_raises"]])
    w.writerow([])
    w.writerow(["week", "sessions", "engagement", "attention"])
    for t in rep.trend:
        w.writerow([t["week"], t["sessions"], _fmt(t["engagement"]), _fmt(t["attention"])])
    if rep.warning_counts is not None:
        w.writerow([])
        w.writerow(["warning_level", "count"])
        for lvl in (3, 2, 1):
            w.writerow([lvl, rep.warning_counts.get(lvl, 0)])
    return buf.getvalue()


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def _plots(rep: ReportData, t: dict[str, str], font: Path | None) -> list[bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    props = None
    if font is not None:
        font_manager.fontManager.addfont(str(font))
        props = font_manager.FontProperties(fname=str(font))
    out: list[bytes] = []

    def png(fig: Any) -> None:  # noqa: ANN401
        b = io.BytesIO()
        fig.savefig(b, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        out.append(b.getvalue())

    periods = sorted({p for p, _ in rep.heatmap}, key=lambda p: (len(p), p)) or ["-"]
    days = list(range(1, 6)) + [d for d in (6, 7) if any(k[1] == d for k in rep.heatmap)]
    grid = [[rep.heatmap.get((p, d), float("nan")) for d in days] for p in periods]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(periods) + 1.6))
    im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(days)), [t[f"weekday.{d}"] for d in days], fontproperties=props)
    ax.set_yticks(range(len(periods)), periods)
    ax.set_title(t["report.heatmap"], fontproperties=props)
    fig.colorbar(im, ax=ax, label=None)
    png(fig)

    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    xs = list(range(len(rep.trend)))
    for key, label in (("engagement", t["metric.engagement"]), ("attention", t["metric.attention"])):
        ys = [x[key] if x[key] is not None else float("nan") for x in rep.trend]
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xticks(xs, [x["week"][5:] for x in rep.trend])
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_ylim(0, 1)
    ax.set_title(t["report.trend"], fontproperties=props)
    ax.legend(prop=props)
    png(fig)

    if rep.warning_counts is not None:
        fig, ax = plt.subplots(figsize=(6.5, 2.2))
        lv = [3, 2, 1]
        ax.bar([t[f"level.{x}"] for x in lv], [rep.warning_counts.get(x, 0) for x in lv],
               color=["#b3261e", "#e8a33d", "#5b8def"])
        for lab in ax.get_xticklabels():
            lab.set_fontproperties(props)
        ax.set_title(t["report.warnings"], fontproperties=props)
        png(fig)
    return out


def to_pdf(rep: ReportData, lang: str = "en") -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    from cloud_aggregator.notice import SC_INDEX_IN_TTC, find_cjk_font

    t = catalogue(lang)
    try:
        font: Path | None = find_cjk_font()
    except FileNotFoundError:
        font = None
        if lang != "en":
            t = catalogue("en")  # no CJK font on this machine: an English report rather than empty boxes
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    if font is not None:
        pdf.add_font("cjk", fname=str(font), collection_font_number=SC_INDEX_IN_TTC)
        family = "cjk"
    else:
        family = "helvetica"
    pdf.set_font(family, size=18)
    pdf.multi_cell(0, 10, f"{t['report.title']}: {rep.title}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=11)
    end = rep.week_start + timedelta(days=6)
    pdf.multi_cell(0, 6, f"{t['report.week']}: {rep.week_start.isoformat()} – {end.isoformat()} · "
                         f"{t['report.sessions']}: {len(rep.sessions)}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(90, 90, 90)
    pdf.multi_cell(0, 5, t["report.privacy"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    for img in _plots(rep, t, font):
        pdf.ln(2)
        pdf.image(io.BytesIO(img), w=170)
    pdf.ln(3)
    pdf.set_font(family, size=9)
    head = [t["report.col.section"], t["report.col.date"], t["report.col.period"], t["metric.attention"],
            t["metric.engagement"], t["metric.hands"]]
    widths = [62, 24, 16, 24, 24, 20]
    with pdf.table(col_widths=widths, text_align="LEFT", first_row_as_headings=True,
                   headings_style=FontFace(emphasis="", fill_color=(230, 234, 238))) as table:
        table.row(head)
        for s in rep.sessions[:200]:
            table.row([s["section_id"], s["date"], str(s["period"]), _pct(s["attention"]), _pct(s["engagement"]),
                       str(s["hand_raises"])])
    if not rep.sessions:
        pdf.multi_cell(0, 6, t["state.no_data"], new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{round(x * 100)}%"


def department_sections(store: Any, subject: str) -> list[str]:  # noqa: ANN401
    """Sections whose course code starts with ``subject`` (e.g. MATH → MATH-10, MATH-11 …)."""
    rows = db.query(store, "SELECT sourced_id, course_code FROM sections")
    return sorted(r["sourced_id"] for r in rows if (r["course_code"] or "").split("-")[0] == subject)


def departments(store: Any) -> list[str]:  # noqa: ANN401
    rows = db.query(store, "SELECT DISTINCT course_code FROM sections")
    return sorted({(r["course_code"] or "").split("-")[0] for r in rows if r["course_code"]})


def run_scheduled(store: Any, out_dir: Path, today: date, lang: str = "zh-CN") -> list[Path]:  # noqa: ANN401
    """Reports of the week before ``today`` (school + each department), written once as PDF and CSV."""
    week = week_monday(today) - timedelta(days=7)
    all_sections = sorted(r["sourced_id"] for r in db.query(store, "SELECT sourced_id FROM sections"))
    scopes = [("school", "School", all_sections)] + [
        (f"department-{d}", d, department_sections(store, d)) for d in departments(store)]
    written: list[Path] = []
    folder = out_dir / week.isoformat()
    for name, title, secs in scopes:
        stem = safe_stem(name)  # department names come from imported course codes
        pdf_path, csv_path = folder / f"{stem}.pdf", folder / f"{stem}.csv"
        if pdf_path.exists() and csv_path.exists():
            continue
        rep = build_report(store, name, title, secs, week)
        folder.mkdir(parents=True, exist_ok=True)
        csv_path.write_text(to_csv(rep), encoding="utf-8")
        pdf_path.write_bytes(to_pdf(rep, lang))
        written += [pdf_path, csv_path]
    return written


def report_dir(cfg: Any, config: Any) -> Path:  # noqa: ANN401 - DashboardConfig, AggregatorConfig
    if cfg.report_dir:
        return Path(cfg.report_dir)
    store_cfg = getattr(config, "store", None)
    if store_cfg is not None and store_cfg.backend == "sqlite":
        return Path(store_cfg.path).parent / "reports"
    return Path("data/reports")


class ReportScheduler(threading.Thread):
    """Checks hourly (first a minute after start-up, so it never competes with it); from Monday 06:00 (UTC)
    on, writes last week's reports once."""

    def __init__(self, store: Any, out_dir: Path, lang: str):  # noqa: ANN401
        super().__init__(daemon=True, name="report-scheduler")
        self.store, self.out_dir, self.lang = store, out_dir, lang
        self.stop_evt = threading.Event()

    def run(self) -> None:
        while not self.stop_evt.wait(60.0):
            now = datetime.now(timezone.utc)
            if now.weekday() > 0 or now.hour >= 6:
                try:
                    run_scheduled(self.store, self.out_dir, now.date(), self.lang)
                except Exception:  # a report failure must not take the dashboard down
                    log.exception("scheduled report failed")
            self.stop_evt.wait(3600.0)

    def stop(self) -> None:
        self.stop_evt.set()
