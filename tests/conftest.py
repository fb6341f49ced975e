"""Shared test fixtures: repository paths and the research data beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CLASSPULSE_DATA", REPO.parent / "shared" / "data"))
SAMPLES = REPO / "samples"

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("research data (../shared/data) is not beside the repository")
    return SHARED_DATA


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


def pytest_configure(config: pytest.Config) -> None:
    (REPO / "test-artifacts").mkdir(exist_ok=True)


@pytest.fixture(scope="session")
def tmpl(tmp_path_factory):
    """The small demo school imported once per run into a template store (tests copy it; see _dashboard_helpers)."""
    from tests._dashboard_helpers import template_db

    return template_db(tmp_path_factory.getbasetemp() / "dash-template")
