"""mypy (with the pydantic plugin, settings in pyproject.toml) finds no error in the typed packages.

The whole cloud side, the contract and the room-profile model (docs/ARCHITECTURE.md); CI runs this with the
other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TYPED = ["classpulse_contract", "cloud_aggregator", "calibration"]


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)


def test_typed_packages_have_no_errors() -> None:
    r = _mypy(*TYPED)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("Success: no issues found")


def test_pydantic_plugin_is_active(tmp_path: Path) -> None:
    """A dynamic required alias is an error only the pydantic plugin reports (``[pydantic-alias]``)."""
    bad = tmp_path / "bad_model.py"
    bad.write_text('from pydantic import BaseModel, Field\n\nALIAS = "x"\n\n\n'
                   'class M(BaseModel):\n    n: int = Field(alias=ALIAS)\n')
    r = _mypy("--no-incremental", str(bad))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "[pydantic-alias]" in r.stdout
