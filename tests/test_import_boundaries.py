"""The import rules of docs/ARCHITECTURE.md hold: import-linter checks the contracts in pyproject.toml.

Static imports count wherever they stand (module top, inside functions, under TYPE_CHECKING), so a lazy
import cannot hide a dependency that runs back up a layer or across to the other side.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"

RULES = {
    "edge_agent and cloud_aggregator never import each other",
    "classpulse_contract imports neither side",
    "calibration data models import nothing of the agent or the cloud",
    "warnings never import web",
    "store imports neither warnings nor web",
    "config imports no store, warnings, web or records",
    "edge analysis stages import no comms or disk writer",
}


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache", "--no-logo", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, check=False)


def test_import_contracts_hold() -> None:
    r = _lint()
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"Contracts: {len(RULES)} kept, 0 broken." in r.stdout
    kept = {line.rsplit(" KEPT", 1)[0] for line in r.stdout.splitlines() if " KEPT" in line}
    assert kept == RULES  # none dropped from pyproject.toml, none added without a name here


def test_a_broken_rule_fails(tmp_path: Path) -> None:
    """The same checker on a rule the code breaks (the web reads through the store) must fail."""
    cfg = tmp_path / "contracts.toml"
    cfg.write_text('[tool.importlinter]\nroot_packages = ["cloud_aggregator"]\n\n'
                   '[[tool.importlinter.contracts]]\nname = "web never imports store"\ntype = "forbidden"\n'
                   'source_modules = ["cloud_aggregator.web.throttle"]\n'
                   'forbidden_modules = ["cloud_aggregator.store"]\n')
    r = _lint("--config", str(cfg))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cloud_aggregator.web.throttle -> cloud_aggregator.store.login_throttle" in r.stdout
