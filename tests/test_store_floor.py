"""The storage floor (issue #19): no SQL text in cloud_aggregator outside ``cloud_aggregator/store/``.

Every string constant (f-string parts included; docstrings excluded) of every cloud module outside
store/ is read with ``ast`` and refused when it looks like a SQL statement. A layer above the store asks
a typed store function for what it needs, so a table, a filter or a dialect difference changes in one place.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "cloud_aggregator"
SQL = re.compile(
    r"\b(SELECT\b[\s\S]*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(UNIQUE\s+)?(TABLE|INDEX|VIEW)"
    r"|ALTER\s+TABLE|DROP\s+(TABLE|INDEX|VIEW)|PRAGMA\s+\w+|ON\s+CONFLICT|TRUNCATE\s+\w+)\b",
    re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def sql_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every non-docstring string constant in ``path`` that reads as SQL."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    skip |= {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}  # read with their f-string
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                           for v in node.values)
            if SQL.search(text):
                found.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if SQL.search(node.value):
                found.append((node.lineno, node.value))
    return found


def test_checker_finds_sql_and_ignores_prose() -> None:
    assert SQL.search("SELECT a FROM t WHERE x = ?")
    assert SQL.search("insert into users (a) values (?)")
    assert SQL.search("UPDATE warnings SET state = ?")
    assert not SQL.search("select the students who were absent")
    assert not SQL.search("Delete the token from the boot partition")


def test_no_sql_text_outside_store() -> None:
    offenders = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).as_posix()
        if rel.startswith("cloud_aggregator/store/"):
            continue
        hits = sql_strings(path)
        if hits:
            offenders[rel] = [f"{line}: {' '.join(text.split())[:80]}" for line, text in hits]
    if offenders:
        lines = [f"{f} ({len(h)}): {h[0]}" for f, h in offenders.items()]
        pytest.fail(f"SQL text outside cloud_aggregator/store/ in {len(offenders)} files, "
                    f"{sum(len(h) for h in offenders.values())} strings:\n" + "\n".join(lines))
