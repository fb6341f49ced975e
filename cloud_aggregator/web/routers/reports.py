"""Weekly reports (PDF or CSV) of a section, a department or the school, for the scopes a user may request."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from cloud_aggregator.store import warning_log
from cloud_aggregator.store.scopes import enrolled_students

from .. import auth, live, reports, scope
from ..context import WebContext
from ..deps import Web, role
from ..download import attachment
from ..ranges import Day
from ..schemas.responses.reports import ReportScope

router = APIRouter(tags=["reports"])


def report_scopes(ctx: WebContext, user: auth.User) -> dict[str, tuple[str, list[str]]]:
    """scope key → (title, sections) of every report ``user`` may request."""
    store = ctx.store
    secs = scope.visible_sections(store, user)
    titles = live.section_titles(store, secs)
    out = {f"section:{s}": (titles.get(s, s), [s]) for s in sorted(secs)}
    if user.role == "admin":
        out["school"] = ("School", sorted(secs))
        for d in reports.departments(store):
            out[f"department:{d}"] = (d, reports.department_sections(store, d))
    return out


@router.get("/api/reports/scopes", response_model=list[ReportScope], summary="Report scopes you may request")
def scopes(ctx: Web, user: auth.User = role("teacher", "admin")) -> list[dict[str, Any]]:
    return [{"scope": k, "title": v[0]} for k, v in report_scopes(ctx, user).items()]


@router.get("/api/reports/weekly", response_class=Response,
            summary="Weekly report (PDF or CSV) for a section, department or the school",
            responses={200: {"content": {"application/pdf": {}, "text/csv": {}}}})
def weekly_report(ctx: Web, report_scope: str = Query(..., alias="scope", max_length=200),
                  week: Day | None = Query(None, description="any day of the week (default: this week)"),
                  format: Literal["pdf", "csv"] = "pdf",  # noqa: A002
                  lang: Literal["en", "zh-CN"] | None = None,
                  user: auth.User = role("teacher", "admin")) -> Response:
    store = ctx.store
    allowed = report_scopes(ctx, user)
    if report_scope not in allowed:
        raise HTTPException(403, "not a report scope you may request")
    title, secs = allowed[report_scope]
    counts: dict[int, int] | None = None
    if user.role == "admin":
        enrolled = enrolled_students(store, None if report_scope == "school" else secs)
        counts = {}
        for w in warning_log.active_warnings(store, "student", sorted(enrolled)):
            counts[w["level"]] = counts.get(w["level"], 0) + 1
    rep = reports.build_report(store, report_scope, title, secs, week or datetime.now(timezone.utc).date(),
                               warning_counts=counts)
    fname = f"classpulse-{report_scope.replace(':', '-')}-{rep.week_start.isoformat()}"
    if format == "csv":
        return Response(reports.to_csv(rep), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": attachment(fname, "csv")})
    pdf = reports.to_pdf(rep, lang or user.language, ctx.cfg.report_fonts)
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": attachment(fname, "pdf")})

