"""Shared test fixtures: repository paths and the research data beside the repo."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

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


def load_models_script(rel: str) -> ModuleType:
    """A training script under models/ (scripts, not a package) loaded as a module for its tests."""
    path = REPO / "models" / rel
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def models_script() -> Callable[[str], ModuleType]:
    """``models_script("voice/train.py")``: see :func:`load_models_script`."""
    return load_models_script


def pytest_configure(config: pytest.Config) -> None:
    (REPO / "test-artifacts").mkdir(exist_ok=True)


@pytest.fixture(scope="session")
def tmpl(tmp_path_factory):
    """The small demo school imported once per run into a template store (tests copy it; see _dashboard_helpers)."""
    from tests._dashboard_helpers import template_db

    return template_db(tmp_path_factory.getbasetemp() / "dash-template")
