"""The classroom notice renders (checked as an image) and its promises follow the room's config."""

from __future__ import annotations

import shutil
import subprocess

import cv2
import pytest

from edge_agent.config import AgentConfig
from edge_agent.notice import notice_lines, render_notice

pytestmark = pytest.mark.privacy


def cfg(**over) -> AgentConfig:
    base = {"schedule": {"periods": [{"days": ["mon", "wed"], "start": "08:00", "end": "08:45"}]}}
    base.update(over)
    return AgentConfig.model_validate(base)


def text(c: AgentConfig) -> str:
    return "\n".join(zh + "\n" + en for zh, en in notice_lines(c, "Ms Wang"))


def test_promises_follow_policy():
    assert "no emotion recognition" in text(cfg(policy="no-emotion"))
    full = text(cfg(policy="full", k_anonymity=7))
    assert "at least 7 faces" in full and "no emotion recognition" not in full
    assert "senses nothing" in text(cfg(policy="off"))
    assert "Mon, Wed 08:00–08:45" in text(cfg())


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="pdftoppm (poppler-utils) not installed")
def test_notice_renders_as_image(tmp_path):
    pdf = render_notice(cfg(), "Ms Wang, 010-1234", tmp_path / "notice.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    img = cv2.imread(str(tmp_path / "page.png"), cv2.IMREAD_GRAYSCALE)
    assert img is not None and img.shape[0] > img.shape[1]  # A4 portrait
    ink = (img < 128).mean()
    assert 0.005 < ink < 0.2, f"page looks empty or solid ({ink:.3f} dark)"
    # the Chinese title must render as glyphs, not as an empty band: top band has ink
    assert (img[: img.shape[0] // 10] < 128).mean() > 0.003
