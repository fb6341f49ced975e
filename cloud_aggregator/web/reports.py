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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloud_aggregator.i18n import catalogue
from cloud_aggregator.store.report_data import session_summaries, session_window_stats
from cloud_aggregator.store.sections import course_codes, section_ids, section_titles
from cloud_aggregator.timetable import parse_session_id

from .download import safe_stem
from .report_fonts import ReportFont, pick_font, safe_text

if TYPE_CHECKING:
    from cloud_aggregator.store import Store

log = logging.getLogger(__name__)
logging.getLogger("fontTools").setLevel(logging.WARNING)  # fpdf2's font subsetting logs every table at INFO
TREND_WEEKS = 8
MIN_TREND_WEEKS = 3  # fewer weeks with data than this: the PDF says the trend is not yet one
MAX_ROWS = 400  # per-lesson rows in the PDF (the CSV has them all)


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
    names: dict[str, str] = field(default_factory=dict)  # section id -> its title (the table shows names)


def week_monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def session_rows(store: Store, sections: list[str], since: date, until: date) -> list[dict[str, Any]]:  # noqa: ANN401
    """Per section session in [since, until): windows, mean attention/engagement, hand raises."""
    if not sections:
        return []
    per: dict[str, dict[str, Any]] = {}
    for r in session_window_stats(store, sections):
        _, day, period = parse_session_id(r["session_id"])
        if not (since.isoformat() <= day < until.isoformat()):
            continue
        per[r["session_id"]] = {"session_id": r["session_id"], "section_id": r["section_id"], "room": r["room"],
                                "date": day, "weekday": date.fromisoformat(day).isoweekday(), "period": period,
                                "windows": int(r["n"]), "attention": r["att"], "engagement": r["eng"],
                                "talk": r["talk"], "hand_raises": int(r["hands"] or 0)}
    for r in session_summaries(store, sections, since.isoformat(), until.isoformat()):
        per.setdefault(r["session_id"], {  # a lesson still held as windows wins over its rollup
            "session_id": r["session_id"], "section_id": r["section_id"], "room": r["room"], "date": r["date"],
            "weekday": date.fromisoformat(r["date"]).isoweekday(), "period": r["period"],
            "windows": int(r["n_windows"] or 0), "attention": r["attention_mean"],
            "engagement": r["engagement_mean"], "talk": r["speech_mean"], "hand_raises": int(r["hand_raises"] or 0)})
    return sorted(per.values(), key=lambda s: (s["date"], str(s["period"]), s["section_id"]))


def section_names(store: Store, sections: list[str]) -> dict[str, str]:
    """Section id → title, for the sections that have one (the table shows names, ids otherwise)."""
    return {k: v for k, v in section_titles(store, sections).items() if v}


def trend_weeks_with_data(rep: ReportData) -> int:
    return sum(1 for t in rep.trend if t["sessions"])


def build_report(store: Store, scope: str, title: str, sections: list[str], week_start: date,
                 warning_counts: dict[int, int] | None = None) -> ReportData:
    week_start = week_monday(week_start)
    rep = ReportData(scope, title, week_start, sorted(sections), warning_counts=warning_counts)
    rep.names = section_names(store, rep.sections)
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
    w.writerow(["section_id", "section", "date", "weekday", "period", "room", "windows", "attention", "engagement",
                "talk", "hand_raises"])
    for s in rep.sessions:
        w.writerow([s["section_id"], rep.names.get(s["section_id"], ""), s["date"], s["weekday"], s["period"], s["room"], s["windows"],
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


def heatmap_figure(rep: ReportData, t: dict[str, str], font: ReportFont, props: Any = None) -> Any:  # noqa: ANN401
    """Engagement per period × weekday, each filled cell labelled with its value (colour alone is not a number)."""
    import matplotlib.pyplot as plt

    s = lambda x: safe_text(font, x)  # noqa: E731
    periods = sorted({p for p, _ in rep.heatmap}, key=lambda p: (len(p), p)) or ["-"]
    days = list(range(1, 6)) + [d for d in (6, 7) if any(k[1] == d for k in rep.heatmap)]
    grid = [[rep.heatmap.get((p, d), float("nan")) for d in days] for p in periods]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(periods) + 1.6))
    im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if v == v:  # not NaN: the cell's value, dark text on the light end of the scale
                ax.text(j, i, f"{round(v * 100)}%", ha="center", va="center", fontsize=9,
                        color="black" if v > 0.6 else "white")
    ax.set_xticks(range(len(days)), [s(t[f"weekday.{d}"]) for d in days], fontproperties=props)
    ax.set_yticks(range(len(periods)), periods)
    ax.set_ylabel(s(t["report.col.period"]), fontproperties=props)
    ax.set_title(s(t["report.heatmap"]), fontproperties=props)
    fig.colorbar(im, ax=ax, label=None)
    return fig


def _plots(rep: ReportData, t: dict[str, str], font: ReportFont) -> list[bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    props = None
    if font.cjk:
        font_manager.fontManager.addfont(str(font.path))
        props = font_manager.FontProperties(fname=str(font.path))
    s = lambda x: safe_text(font, x)  # noqa: E731 - the plots print only catalogue text
    out: list[bytes] = []

    def png(fig: Any) -> None:  # noqa: ANN401
        b = io.BytesIO()
        fig.savefig(b, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        out.append(b.getvalue())

    png(heatmap_figure(rep, t, font, props))

    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    xs = list(range(len(rep.trend)))
    for key, label in (("engagement", t["metric.engagement"]), ("attention", t["metric.attention"])):
        ys = [x[key] if x[key] is not None else float("nan") for x in rep.trend]
        ax.plot(xs, ys, marker="o", label=s(label))
    ax.set_xticks(xs, [x["week"][5:] for x in rep.trend])
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_ylim(0, 1)
    ax.set_title(s(t["report.trend"]), fontproperties=props)
    ax.legend(prop=props)
    png(fig)

    if rep.warning_counts is not None:
        fig, ax = plt.subplots(figsize=(6.5, 2.2))
        lv = [3, 2, 1]
        bars = ax.bar([s(t[f"level.{x}"]) for x in lv], [rep.warning_counts.get(x, 0) for x in lv],
                      color=["#b3261e", "#e8a33d", "#5b8def"])
        ax.bar_label(bars)
        for lab in ax.get_xticklabels():
            lab.set_fontproperties(props)
        ax.set_title(s(t["report.warnings"]), fontproperties=props)
        png(fig)
    return out


def to_pdf(rep: ReportData, lang: str = "en", fonts: Sequence[str | Path] | None = None) -> bytes:
    """The report as PDF; ``fonts`` are CJK font candidates (default: the Debian Noto CJK paths).

    Without a CJK font the report is in English and every string is reduced to what DejaVu Sans covers,
    so it never fails on a glyph (see :mod:`report_fonts`).
    """
    from fpdf import FPDF
    from fpdf.fonts import FontFace, TTFFont

    font = pick_font(fonts)
    t = catalogue(lang)
    no_cjk_note = None
    if not font.cjk and lang != "en":
        t = catalogue("en")  # an English report rather than empty boxes
        no_cjk_note = t["report.no_cjk_font"]
    s = lambda x, alt=None: safe_text(font, x, alt)  # noqa: E731
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.add_font("body", fname=str(font.path), collection_font_number=font.index)
    body = pdf.fonts["body"]
    assert isinstance(body, TTFFont)  # add_font made it one
    font = ReportFont(font.path, font.index, font.cjk, frozenset(body.cmap))  # parsed once, by fpdf
    pdf.set_font("body", size=18)
    title = t["report.scope.school"] if rep.scope == "school" else rep.title
    pdf.multi_cell(0, 10, s(f"{t['report.title']}: {title}", f"{t['report.title']}: {rep.scope}"),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=11)
    end = rep.week_start + timedelta(days=6)
    pdf.multi_cell(0, 6, s(f"{t['report.week']}: {rep.week_start.isoformat()} – {end.isoformat()} · "
                           f"{t['report.sessions']}: {len(rep.sessions)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(90, 90, 90)
    pdf.multi_cell(0, 5, s(t["report.privacy"]), new_x="LMARGIN", new_y="NEXT")
    if no_cjk_note:
        pdf.multi_cell(0, 5, s(no_cjk_note), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    plots = _plots(rep, t, font)
    for i, img in enumerate(plots):
        pdf.ln(2)
        pdf.image(io.BytesIO(img), w=170)
        if i == 1:  # under the trend: say why it is short rather than let two points look like a trend
            n = trend_weeks_with_data(rep)
            if n < MIN_TREND_WEEKS:
                pdf.set_text_color(90, 90, 90)
                pdf.multi_cell(0, 5, s(t["report.trend.short"].replace("{n}", str(n))
                                       .replace("{w}", str(TREND_WEEKS)).replace("{min}", str(MIN_TREND_WEEKS))),
                               new_x="LMARGIN", new_y="NEXT")
                pdf.set_text_color(0, 0, 0)
    # the per-lesson table starts on a fresh page unless a heading and several rows fit here
    if pdf.will_page_break(45):
        pdf.add_page()
    else:
        pdf.ln(4)
    pdf.set_font("body", size=13)
    pdf.multi_cell(0, 8, s(t["report.lessons"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=9)
    head = [t["report.col.section"], t["report.col.date"], t["report.col.period"], t["metric.attention"],
            t["metric.engagement"], t["metric.hands"]]
    widths = [62, 24, 16, 24, 24, 20]
    with pdf.table(col_widths=widths, text_align="LEFT", first_row_as_headings=True, repeat_headings=1,
                   headings_style=FontFace(emphasis="", fill_color=(230, 234, 238))) as table:
        table.row([s(h) for h in head])
        for r in rep.sessions[:MAX_ROWS]:
            sid = r["section_id"]
            table.row([s(rep.names.get(sid, sid), sid), r["date"], s(str(r["period"])), _pct(r["attention"]),
                       _pct(r["engagement"]), str(r["hand_raises"])])
    if not rep.sessions:
        pdf.multi_cell(0, 6, s(t["state.no_data"]), new_x="LMARGIN", new_y="NEXT")
    elif len(rep.sessions) > MAX_ROWS:
        pdf.multi_cell(0, 6, s(t["report.more_rows"].replace("{n}", str(len(rep.sessions) - MAX_ROWS))),
                       new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{round(x * 100)}%"


def department_sections(store: Store, subject: str) -> list[str]:
    """Sections whose course code starts with ``subject`` (e.g. MATH → MATH-10, MATH-11 …)."""
    return sorted(s for s, code in course_codes(store).items() if code.split("-")[0] == subject)


def departments(store: Store) -> list[str]:
    return sorted({code.split("-")[0] for code in course_codes(store).values() if code})


def run_scheduled(store: Store, out_dir: Path, today: date, lang: str = "zh-CN",
                  fonts: Sequence[str | Path] | None = None) -> list[Path]:
    """Reports of the week before ``today`` (school + each department), written once as PDF and CSV."""
    week = week_monday(today) - timedelta(days=7)
    scopes = [("school", "School", section_ids(store))] + [
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
        pdf_path.write_bytes(to_pdf(rep, lang, fonts))
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

    def __init__(self, store: Store, out_dir: Path, lang: str,
                 fonts: Sequence[str | Path] | None = None):
        super().__init__(daemon=True, name="report-scheduler")
        self.store, self.out_dir, self.lang, self.fonts = store, out_dir, lang, fonts
        self.stop_evt = threading.Event()

    def run(self) -> None:
        while not self.stop_evt.wait(60.0):
            now = datetime.now(timezone.utc)
            if now.weekday() > 0 or now.hour >= 6:
                try:
                    run_scheduled(self.store, self.out_dir, now.date(), self.lang, self.fonts)
                except Exception:  # a report failure must not take the dashboard down
                    log.exception("scheduled report failed")
            self.stop_evt.wait(3600.0)

    def stop(self) -> None:
        self.stop_evt.set()
