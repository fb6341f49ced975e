"""Load YAML config files with environment overrides and report errors by key path.

Shared by ``edge-agent config check`` and ``cloud-aggregator config check`` so that
both print the same plain-language errors. Overrides use ``<PREFIX>__SECTION__KEY``
(double underscore between levels); values are parsed as YAML scalars.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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


#: Where a newcomer finds a commented config with every section (printed under every config problem list).
EXAMPLES_HINT = "every key with its meaning and a safe default: examples/agent.yaml, examples/aggregator.yaml"


def format_errors(err: ValidationError) -> list[str]:
    """One line per problem: dotted key path and a plain message (never a raw regex)."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check spelling)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "value_error":
            msg = str(e.get("ctx", {}).get("error", msg))  # our validators' own words, without "Value error, "
        elif e["type"] == "string_pattern_mismatch":
            msg = f"{str(e['input'])[:70]!r} does not have the expected form ({EXAMPLES_HINT})"
        lines.append(f"{loc}: {msg}")
    return lines


def _at(model: BaseModel, dotted: str) -> list[tuple[str, Any]]:
    """The values at ``a.b.c`` (list fields fan out as ``a.b.0``); unset sections give nothing."""
    found: list[tuple[str, Any]] = [("", model)]
    for key in dotted.split("."):
        nxt: list[tuple[str, Any]] = []
        for where, node in found:
            value = getattr(node, key, None)
            name = f"{where}.{key}" if where else key
            if isinstance(value, list):
                nxt += [(f"{name}.{i}", v) for i, v in enumerate(value) if v is not None]
            elif value is not None:
                nxt.append((name, value))
        found = nxt
    return found


def file_problems(cfg: BaseModel, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()) -> list[str]:
    """``key.path: ...`` for input files that cannot be read and output files whose folder cannot be written.

    Pydantic checks a config's shape; this checks it against the machine it will run on, so that
    ``config check`` fails on what ``run`` would otherwise crash on minutes later.
    """
    problems = []
    for key in inputs:
        for where, value in _at(cfg, key):
            path = Path(value)
            if not path.is_file():
                problems.append(f"{where}: {path} " + ("is a folder, not a file" if path.is_dir() else "does not exist"))
            elif not os.access(path, os.R_OK):
                problems.append(f"{where}: {path} is not readable by this user")
    for key in outputs:
        for where, value in _at(cfg, key):
            folder = Path(value).parent.resolve()
            while not folder.exists():  # run creates missing folders: the nearest existing one must be writable
                folder = folder.parent
            if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
                problems.append(f"{where}: cannot create {value} ({folder} is not a writable folder)")
    return problems


def load_config(model: type[M], path: str | Path | None, env_prefix: str,
                environ: Mapping[str, str] | None = None, check: Callable[[M], list[str]] | None = None) -> M:
    """Read ``path`` (YAML; None means defaults only), apply env overrides, validate.

    ``check`` returns the problems of a well-formed config on this machine (files, folders); any of them
    raise :class:`ConfigError` like a shape error does.
    """
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
        cfg = model.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(source, format_errors(e)) from None
    found = check(cfg) if check else []
    if found:
        raise ConfigError(source, found)
    return cfg
