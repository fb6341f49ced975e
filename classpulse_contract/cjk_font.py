"""Where the Chinese font is: the classroom notice (edge side) and the PDF reports (cloud side) both print Chinese.

One list of the Debian ``fonts-noto-cjk`` paths, so both find the same font the setup installs.
"""

from __future__ import annotations

from pathlib import Path

FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
)
SC_INDEX_IN_TTC = 2  # JP, KR, SC, TC, HK in Noto Sans CJK collections


def find_cjk_font() -> Path:
    for c in FONT_CANDIDATES:
        if Path(c).exists():
            return Path(c)
    raise FileNotFoundError("no CJK font found: install the Debian package fonts-noto-cjk")
