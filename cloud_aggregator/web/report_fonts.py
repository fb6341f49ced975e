"""The PDF report's font: one that covers what it prints, so a report never fails on a glyph.

First choice is a CJK font the setup installs (Debian ``fonts-noto-cjk``, also for the demo); without one,
the DejaVu Sans that matplotlib bundles (a registry dependency, so it is always there) covers Latin text and
the report's own punctuation. Any character the chosen font lacks is replaced (a Chinese class name falls
back to its ASCII id, a lone glyph to "?") instead of raising ``FPDFUnicodeEncodingException``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from classpulse_contract.cjk_font import FONT_CANDIDATES, SC_INDEX_IN_TTC

#: punctuation the report uses, spelled in ASCII for a font that lacks it
ASCII_FOR = {"–": "-", "—": "-", "·": "|", "…": "...", "×": "x", "→": "->", "≥": ">=", "≤": "<=", "“": '"', "”": '"',
             "‘": "'", "’": "'", "：": ":", "，": ",", "（": "(", "）": ")", "、": ","}


@dataclass(frozen=True)
class ReportFont:
    path: Path
    index: int  # font number inside a .ttc collection
    cjk: bool
    #: the characters it has, when already known (fpdf parses the font anyway; a CJK cmap takes seconds)
    cmap: frozenset[int] | None = field(default=None, compare=False, repr=False)

    @property
    def codepoints(self) -> frozenset[int]:
        return self.cmap if self.cmap is not None else _cmap(str(self.path), self.index)


@lru_cache(maxsize=8)
def _cmap(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as f:
        return frozenset(f.getBestCmap() or {})


def bundled_font() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def pick_font(candidates: Sequence[str | Path] | None = None) -> ReportFont:
    """The first CJK candidate that exists (default: the Noto CJK paths of the Debian package), else DejaVu Sans."""
    for c in (FONT_CANDIDATES if candidates is None else candidates):
        p = Path(c)
        if p.is_file():
            return ReportFont(p, SC_INDEX_IN_TTC if p.suffix.lower() == ".ttc" else 0, True)
    return ReportFont(bundled_font(), 0, False)


def covers(font: ReportFont, text: str) -> bool:
    cps = font.codepoints
    return all(ord(ch) in cps or ch in "\n\t" for ch in text)


def safe_text(font: ReportFont, text: str, fallback: str | None = None) -> str:
    """``text`` if the font covers it; else ``fallback`` (e.g. an ASCII id) if that is covered; else ``text``
    with each missing character spelled in ASCII (punctuation, accents stripped) or replaced by "?"."""
    if covers(font, text):
        return text
    if fallback is not None and covers(font, fallback):
        return fallback
    cps = font.codepoints
    out = []
    for ch in text:
        if ord(ch) in cps or ch in "\n\t":
            out.append(ch)
            continue
        alt = ASCII_FOR.get(ch) or unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
        out.append(alt if alt and all(ord(a) in cps for a in alt) else "?")
    return "".join(out)
