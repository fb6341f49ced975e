"""UI text catalogues (English, Simplified Chinese) shipped as JSON beside the static assets.

The browser loads ``/static/i18n/<lang>.json`` and words every label, state and reason
from it; the server uses the same files for PDF reports and warning messages, so all speak with one
voice (it lives outside web/ so that warnings/ reads it without importing the web layer).
A key missing from one language falls back to English rather than showing a key.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

LANGUAGES = ("en", "zh-CN")


@lru_cache(maxsize=4)
def _load(lang: str) -> dict[str, str]:
    text = resources.files("cloud_aggregator").joinpath("web", "static", "i18n", f"{lang}.json").read_text("utf-8")
    return json.loads(text)


def catalogue(lang: str) -> dict[str, str]:
    """All keys of the English catalogue, in ``lang`` where translated."""
    if lang not in LANGUAGES:
        lang = "en"
    return {**_load("en"), **_load(lang)}


def best_language(accept: str | None, default: str = "zh-CN") -> str:
    """Pick en or zh-CN from an Accept-Language header (for the login page before a user is known)."""
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return default
