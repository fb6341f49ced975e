"""What both command lines share: lazy dispatch to the module that owns a command, and plain error output."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from classpulse_contract.config_io import EXAMPLES_HINT, ConfigError


def dispatch(target: str, args: argparse.Namespace) -> int:
    """Call ``module:function(args)``; importing lazily keeps ``--help`` and unrelated commands fast."""
    mod_name, fn = target.split(":")
    return int(getattr(importlib.import_module(mod_name), fn)(args) or 0)


def run(parser: argparse.ArgumentParser, argv: list[str] | None, plain_errors: tuple[type[Exception], ...] = ()) -> int:
    """Parse, set up logging, run ``args.func``; config problems exit 2, expected failures exit 1 in plain words."""
    args = parser.parse_args(argv)
    plain: tuple[type[Exception], ...] = (OSError, ValueError, *plain_errors)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"{e.source}: {len(e.problems)} problem(s)", file=sys.stderr)
        for prob in e.problems:
            print(f"  {prob}", file=sys.stderr)
        print(f"({EXAMPLES_HINT})", file=sys.stderr)
        return 2
    except plain as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
