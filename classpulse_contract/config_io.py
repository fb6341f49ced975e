"""Load YAML config files with environment overrides and report errors by key path.

Shared by ``edge-agent config check`` and ``cloud-aggregator config check`` so that
both print the same plain-language errors. Overrides use ``<PREFIX>__SECTION__KEY``
(double underscore between levels); values are parsed as YAML scalars.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A config file that cannot be used; ``problems`` lists ``key.path: message`` lines."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            node[key] = nxt
        node = nxt
    node[path[-1]] = value


def apply_env(tree: dict[str, Any], prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Return a copy of ``tree`` with ``PREFIX__A__B=value`` variables applied as ``a.b: value``."""
    out = yaml.safe_load(yaml.safe_dump(tree)) if tree else {}
    lead = prefix.upper() + "__"
    for name, raw in sorted(environ.items()):
        if not name.startswith(lead):
            continue
        path = [p.lower() for p in name[len(lead):].split("__") if p]
        if not path:
            continue
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        _set_path(out, path, value)
    return out


def format_errors(err: ValidationError) -> list[str]:
    """One line per problem: dotted key path and a plain message."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check spelling; see the example config)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{loc}: {msg}")
    return lines


def load_config(model: type[M], path: str | Path | None, env_prefix: str,
                environ: Mapping[str, str] | None = None) -> M:
    """Read ``path`` (YAML; None means defaults only), apply env overrides, validate."""
    source = str(path) if path else "(defaults)"
    tree: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(source, [f"cannot read file: {e.strerror or e}"]) from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(source, [f"not valid YAML: {e}"]) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(source, ["top level must be a mapping of keys to values"])
        tree = loaded
    tree = apply_env(tree, env_prefix, os.environ if environ is None else environ)
    try:
        return model.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(source, format_errors(e)) from None
