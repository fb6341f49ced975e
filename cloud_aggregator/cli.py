"""``cloud-aggregator`` command line: run, demo, config check, check, import, eval, warnings, user,
deadletters.

Each command parses its arguments here and calls one function in the module that owns the work.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from classpulse_contract.cli_support import dispatch, run


def _cfg(path: str | None):
    from cloud_aggregator.config_check import load_checked

    return load_checked(path)


def _cmd_config_check(args: argparse.Namespace) -> int:
    from cloud_aggregator.config_check import notes

    cfg = _cfg(args.file)  # a ConfigError exits 2 with every problem (cli_support.run)
    found = notes(cfg)
    for n in found:
        print(f"note: {n}", file=sys.stderr)
    print(json.dumps({"ok": True, "store": cfg.store.backend, "broker": f"{cfg.mqtt.host}:{cfg.mqtt.port}",
                      "notes": found}))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from cloud_aggregator.runtime import build

    return build(_cfg(args.config)).run()


def _cmd_demo(args: argparse.Namespace) -> int:
    from cloud_aggregator.demo import run_demo

    return run_demo(Path(args.data), port=args.port, agents=args.agents, duration_s=args.duration, borrow=args.broker)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:1883, not {text!r}")
    return host or "127.0.0.1", int(port)


def _cmd_device_acl(args: argparse.Namespace) -> int:
    from cloud_aggregator.device_registry import write_acl
    from cloud_aggregator.store import open_store

    cfg = _cfg(args.config)
    out = Path(args.out) if args.out else cfg.enrolment.acl_file
    if out is None:
        print("no --out and no enrolment.acl_file in the config", file=sys.stderr)
        return 2
    store = open_store(cfg.store)
    try:
        n = write_acl(store, out)
    finally:
        store.close()
    print(json.dumps({"acl_file": str(out), "devices": n}))
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from cloud_aggregator.records.api import run_import
    from cloud_aggregator.store import open_store

    cfg = _cfg(args.config)
    store = open_store(cfg.store)
    try:
        return run_import(args, store=store, config=cfg.records)
    finally:
        store.close()


def _cmd_demo_school(args: argparse.Namespace) -> int:
    from cloud_aggregator.records.api import run_demo_school

    return run_demo_school(args)


def _cmd_oulad_staff(args: argparse.Namespace) -> int:
    from cloud_aggregator.records.api import run_oulad_staff

    return run_oulad_staff(args)


def build_parser() -> argparse.ArgumentParser:
    from cloud_aggregator.records.api import (
        add_demo_arguments,
        add_import_arguments,
        add_oulad_staff_arguments,
    )

    p = argparse.ArgumentParser(prog="cloud-aggregator", description="ClassPulse cloud aggregator")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="ingest from MQTT and serve the dashboard")
    r.add_argument("--config")
    r.set_defaults(func=_cmd_run)

    d = sub.add_parser("demo", help="whole system on the sample media: broker, aggregator, agents, dashboard")
    d.add_argument("--data", default="data/demo", help="folder for the demo's database and generated files")
    d.add_argument("--port", type=int, default=8080)
    d.add_argument("--agents", type=int, default=2, help="simulated classroom devices replaying the samples")
    d.add_argument("--duration", type=float, default=None, help="stop after N seconds (default: until Ctrl-C)")
    d.add_argument("--broker", metavar="HOST:PORT", default=None, type=_host_port,
                   help="use this running broker (cleaned of the demo's sessions and retained messages on exit) "
                        "instead of a private one")
    d.set_defaults(func=_cmd_demo)

    c = sub.add_parser("config", help="configuration tools")
    csub = c.add_subparsers(dest="config_cmd", required=True)
    cc = csub.add_parser("check", help="validate a config file and print every problem with its key path")
    cc.add_argument("file")
    cc.set_defaults(func=_cmd_config_check)

    im = sub.add_parser("import", help="import academic records (validated row by row)")
    add_import_arguments(im, with_db=False)
    im.add_argument("--config")
    im.set_defaults(func=_cmd_import)

    ds = sub.add_parser("demo-school", help="generate the synthetic demo school's records")
    add_demo_arguments(ds)
    ds.set_defaults(func=_cmd_demo_school)

    os_ = sub.add_parser("oulad-staff", help="generate an (invented) staff roster for OULAD as OneRoster CSV")
    add_oulad_staff_arguments(os_)
    os_.set_defaults(func=_cmd_oulad_staff)

    da = sub.add_parser("device-acl", help="write the broker's device ACL from the device registry "
                        "(each device pinned to its own site/room topics)")
    da.add_argument("--config")
    da.add_argument("--out", help="ACL file (default: enrolment.acl_file)")
    da.set_defaults(func=_cmd_device_acl)

    e = sub.add_parser("eval", help="evaluate models on labelled data (prints JSON)")
    esub = e.add_subparsers(dest="eval_cmd", required=True)
    eo = esub.add_parser("oulad", help="early-warning model on the OULAD layout")
    eo.add_argument("--train", required=True)
    eo.add_argument("--test", required=True)
    eo.add_argument("--day", type=int, required=True)
    eo.set_defaults(func=lambda a: dispatch("cloud_aggregator.warnings.oulad_eval:main", a))

    rt = sub.add_parser("retention", help="roll up and delete old raw aggregates; prune the warnings tables")
    rt.add_argument("--config")
    rt.add_argument("--days", type=int, help="raw aggregates kept (default: retention_days from the config)")
    rt.set_defaults(func=lambda a: dispatch("cloud_aggregator.retention:main", a))

    from cloud_aggregator.deadletters_cli import add_arguments as add_deadletter_arguments

    dl = sub.add_parser("deadletters", help="refused messages: list, show one, purge (no payload bodies)")
    add_deadletter_arguments(dl)
    dl.set_defaults(func=lambda a: dispatch("cloud_aggregator.deadletters_cli:main", a))

    ck = sub.add_parser("check", help="broker check: warn when it will not keep sessions across its own restart")
    ck.add_argument("--config")
    ck.add_argument("--wait", type=float, default=3.0, help="seconds to wait for the broker's answers")
    ck.set_defaults(func=lambda a: dispatch("cloud_aggregator.broker_check:main", a))

    from cloud_aggregator.warnings_cli import add_arguments as add_warnings_arguments

    add_warnings_arguments(sub)

    from cloud_aggregator.web.users_cli import add_arguments as add_user_arguments

    u = sub.add_parser("user", help="dashboard accounts: add, list, passwd, disable")
    add_user_arguments(u)
    u.set_defaults(func=lambda a: dispatch("cloud_aggregator.web.users_cli:main", a))
    return p


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv, ())

if __name__ == "__main__":
    sys.exit(main())
