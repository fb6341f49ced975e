"""Warning messages (e-mail text, webhook JSON) rendered at send time from the stored warning.

A message says who (pseudonym, and the name only for roles the access rules let see names),
the level, the reasons in plain words with their numbers, the student's tags, the recommended
intervention, whether the data behind it is stale, and a dashboard link. No sensing data about
individuals exists, so none can appear; class warnings name the section only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cloud_aggregator.i18n import catalogue

from .student_rules import LEVELS


def say(lang: str, key: str, params: dict[str, Any]) -> str:
    """A message key in plain words, as the dashboard's t() does (missing numbers show as '–')."""
    text = catalogue(lang).get(key, key)
    return re.sub(r"\{(\w+)\}", lambda m: "–" if params.get(m.group(1)) is None else str(params[m.group(1)]), text)


def link(base_url: str, row: dict[str, Any]) -> str:
    base = base_url.rstrip("/")
    return f"{base}/#student/{row['subject']}" if row["scope"] == "student" else f"{base}/#live"


def content(row: dict[str, Any], role: str, name: str | None, lang: str, base_url: str,  # noqa: PLR0913
            step: int = 0) -> dict[str, Any]:
    """The structured message (also the webhook body, minus the delivery fields)."""
    reasons = [{**r, "text": say(lang, r["key"], r["params"])} for r in json.loads(row["reasons"] or "[]")]
    tags = [{**t, "text": say(lang, f"tag.{t['id']}", {}) + ": " + say(lang, t["evidence_key"], t["evidence"])}
            for t in json.loads(row["tags"] or "[]")]
    stale = [s for s in (row["stale_sources"] or "").split(",") if s]
    out: dict[str, Any] = {
        "warning_id": row["id"], "scope": row["scope"], "type": row["type"],
        "type_text": say(lang, f"type.{row['type']}", {}), "level": int(row["level"]),
        "level_name": LEVELS[int(row["level"])], "level_text": say(lang, f"level.{int(row['level'])}", {}),
        "role": role, "reasons": reasons, "tags": tags, "intervention": json.loads(row["intervention"] or "null"),
        "stale": bool(row["stale"]), "stale_sources": stale, "data_as_of": row["data_as_of"],
        "link": link(base_url, row), "escalation_step": step,
    }
    if row["scope"] == "student":
        out["student"] = {"pseudonym": row["subject"], "name": name}
        out["section"] = row["section_id"]
    else:
        out["section"] = row["subject"]
    return out


def email_text(msg: dict[str, Any], lang: str) -> tuple[str, str]:
    """(subject, body) of the e-mail for one warning."""
    who = (msg["student"]["name"] or msg["student"]["pseudonym"]) if msg["scope"] == "student" else msg["section"]
    subject = f"[ClassPulse] {msg['level_text']}: {msg['type_text']} – {who}"
    lines = [f"{say(lang, 'mail.level', {})}: {msg['level_text']} ({msg['level']})",
             f"{say(lang, 'mail.type', {})}: {msg['type_text']}"]
    if msg["scope"] == "student":
        lines.append(f"{say(lang, 'mail.student', {})}: {who} ({msg['student']['pseudonym']})")
        if msg.get("section"):
            lines.append(f"{say(lang, 'mail.section', {})}: {msg['section']}")
    else:
        lines.append(f"{say(lang, 'mail.section', {})}: {msg['section']}")
    if msg["stale"]:
        lines.append(say(lang, "mail.stale", {"sources": ", ".join(msg["stale_sources"]),
                                              "as_of": msg["data_as_of"]}))
    lines += ["", say(lang, "mail.reasons", {}) + ":"] + [f"- {r['text']}" for r in msg["reasons"]]
    if msg["tags"]:
        lines += ["", say(lang, "mail.tags", {}) + ":"] + [f"- {t['text']}" for t in msg["tags"]]
    if msg["intervention"]:
        lines += ["", f"{say(lang, 'mail.intervention', {})}: {msg['intervention']['text']}"]
        if msg["intervention"].get("resource"):
            lines.append(msg["intervention"]["resource"])
    if msg["escalation_step"]:
        lines += ["", say(lang, "mail.escalated", {})]
    lines += ["", f"{say(lang, 'mail.link', {})}: {msg['link']}", f"ID: {msg['warning_id']}", "",
              say(lang, "mail.footer", {})]
    return subject, "\n".join(lines) + "\n"
