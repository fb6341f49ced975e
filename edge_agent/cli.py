"""``edge-agent`` command line: run, replay, eval, config check, and the operator tools.

Each command parses its arguments here and calls one function in the module that
owns the work; the last line of every ``eval``/``replay`` output is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from datetime import datetime
from pathlib import Path

from classpulse_contract.cli_support import dispatch, run
from edge_agent.inference.manifest import ModelIntegrityError


def _cmd_config_check(args: argparse.Namespace) -> int:
    from edge_agent.config_check import notes

    cfg = _load(args.file)  # a ConfigError exits 2 with every problem (cli_support.run)
    found = notes(cfg)
    for n in found:
        print(f"note: {n}", file=sys.stderr)
    print(json.dumps({"ok": True, "device": cfg.device.id, "policy": cfg.policy, "notes": found}))
    return 0


def _load(path: str | None):
    from edge_agent.config_check import load_checked

    return load_checked(path)


def _cmd_replay(args: argparse.Namespace) -> int:
    from edge_agent.replay import replay, summary_line

    cfg = _load(args.config)
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")) if args.start else None
    aggs = replay(cfg, args.video, args.audio, Path(args.out), start=start)
    print(summary_line(aggs, Path(args.out)))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from edge_agent.pipeline import run_agent

    return run_agent(_load(args.config), max_windows=args.max_windows, config_path=args.config)




#: Subcommands whose module provides ``add_arguments(parser)`` and ``main(args)``.
TOOLS = [
    ("calibrate-audio", "edge_agent.audio.calibrate",
     "measure the room's noise floor (and teacher level) into a calibration file"),
    ("calibrate-camera", "edge_agent.vision.calibrate",
     "find the seated area, face sizes and board direction per zone from faces (stores numbers, never a frame)"),
    ("check", "edge_agent.check", "pre-flight for IT staff: config, camera, mic, groups, broker, clock, models, disk, temperature"),
    ("enroll", "edge_agent.enroll", "device identity + broker login: a one-time token from the fleet view, or --device-id without it"),
    ("firstboot", "edge_agent.firstboot",
     "enrol this box from classpulse.yaml on the boot partition (the classpulse-firstboot unit runs it)"),
    ("models", "edge_agent.models_cli", "signed model bundles: keygen, init, selftest, sign, pack, verify"),
    ("notice", "edge_agent.notice", "printable bilingual classroom notice (PDF) from this room's agent config"),
]


def build_parser() -> argparse.ArgumentParser:
    from edge_agent.vision.faces import FACE_BACKENDS

    p = argparse.ArgumentParser(prog="edge-agent", description="ClassPulse edge agent")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="run the agent (camera/mic → aggregates → MQTT)")
    r.add_argument("--config", required=False)
    r.add_argument("--max-windows", type=int, default=None, help="stop after N windows (tests, demos)")
    r.set_defaults(func=_cmd_run)

    rp = sub.add_parser("replay", help="run the pipeline offline on recorded media; publishes nothing")
    rp.add_argument("--video")
    rp.add_argument("--audio")
    rp.add_argument("--config")
    rp.add_argument("--out", required=True)
    rp.add_argument("--start", help="wall-clock time of the recording's first sample (ISO 8601); default now")
    rp.set_defaults(func=_cmd_replay)

    for name, module, text in TOOLS:
        tool = sub.add_parser(name, help=text)
        importlib.import_module(module).add_arguments(tool)
        tool.set_defaults(func=lambda a, m=module: dispatch(f"{m}:main", a))

    c = sub.add_parser("config", help="configuration tools")
    csub = c.add_subparsers(dest="config_cmd", required=True)
    cc = csub.add_parser("check", help="validate a config file and print every problem with its key path")
    cc.add_argument("file")
    cc.set_defaults(func=_cmd_config_check)

    e = sub.add_parser("eval", help="evaluate a model on labelled data (prints JSON)")
    esub = e.add_subparsers(dest="eval_cmd", required=True)
    ee = esub.add_parser("expression")
    ee.add_argument("--data", required=True)
    ee.add_argument("--manifest")
    ee.add_argument("--threads", type=int, default=1)
    ee.add_argument("--no-flip-tta", dest="flip_tta", action="store_false",
                    help="one inference per face (the agent's default averages with the mirrored face)")
    ee.set_defaults(func=lambda a: dispatch("edge_agent.evaluation.expression:main", a))
    ev = esub.add_parser("voice")
    ev.add_argument("--data", required=True)
    ev.add_argument("--manifest")
    ev.add_argument("--threads", type=int, default=1)
    ev.set_defaults(func=lambda a: dispatch("edge_agent.evaluation.voice:main", a))
    ef = esub.add_parser("faces")
    ef.add_argument("--images", required=True)
    ef.add_argument("--gt", required=True)
    ef.add_argument("--config")
    ef.add_argument("--face-detector", choices=FACE_BACKENDS,
                    help="ours, or MediaPipe's model through LiteRT or its graph (default: the config's vision.face_detector)")
    ef.add_argument("--min-confidence", type=float, help="lowest detector score kept (default: the config's)")
    ef.set_defaults(func=lambda a: dispatch("edge_agent.evaluation.faces:main", a))
    return p


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the console script: a process of its own (callers passing argv keep their stderr)
        from edge_agent.quiet import quiet_native

        quiet_native(verbose=bool({"-v", "--verbose"} & set(sys.argv[1:])))  # before cv2/mediapipe/pyaudio load
    return run(build_parser(), argv, (ModelIntegrityError,))

if __name__ == "__main__":
    sys.exit(main())
