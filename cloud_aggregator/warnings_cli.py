"""``cloud-aggregator warnings run|train|deliver|runs``: scoring on demand, the risk model, outbox retries, run
history with the active model and the latest drift check (JSON out)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger(__name__)
#: what ``warnings runs`` shows of the active risk model and of the latest drift check
MODEL_SHOWN = ("version", "kind", "created_at", "window_start", "window_end", "metrics")
DRIFT_SHOWN = ("ts", "model_version", "score_psi", "max_psi", "flagged", "action", "new_version")


def _open(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from cloud_aggregator.config import load_aggregator_config
    from cloud_aggregator.store import open_store

    cfg = load_aggregator_config(args.config)
    keys = None
    try:
        from cloud_aggregator.records.keys import load_keys

        keys = load_keys(cfg.records)
    except Exception as e:  # noqa: BLE001 - without the key, e-mails cannot be addressed (recorded as no_address)
        log.warning("records key not available (%s): e-mail deliveries will be 'no_address'", e)
    return cfg, open_store(cfg.store), keys


def _now(args: argparse.Namespace) -> datetime | None:
    if not getattr(args, "as_of", None):
        return None
    return datetime.fromisoformat(args.as_of).replace(tzinfo=timezone.utc) if len(args.as_of) == 10 else \
        datetime.fromisoformat(args.as_of.replace("Z", "+00:00"))


def cmd_run(args: argparse.Namespace) -> int:
    from cloud_aggregator.warnings.engine import run

    cfg, store, keys = _open(args)
    try:
        res = run(store, cfg.warnings, keys, now=_now(args), trigger="cli", deliver=not args.no_deliver)
    finally:
        store.close()
    print(json.dumps({k: res[k] for k in ("run_id", "version", "counts", "stale_sources", "freshness")},
                     ensure_ascii=False))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from cloud_aggregator.warnings.risk import TrainingError, train

    cfg, store, _keys = _open(args)
    try:
        res = train(store, cfg.warnings, now=_now(args), trigger="cli", until=args.until)
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(json.dumps({k: res[k] for k in ("version", "kind", "path", "window_start", "window_end", "n_rows",
                                          "n_students", "metrics", "fairness", "train_s")}, ensure_ascii=False))
    return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    from cloud_aggregator.warnings.delivery import send_pending
    from cloud_aggregator.warnings.engine import escalate

    cfg, store, keys = _open(args)
    try:
        now = _now(args)
        out = {"escalated": escalate(store, cfg.warnings, now),
               "delivered": send_pending(store, cfg.warnings, keys, now, retry_failed=args.retry_failed)}
    finally:
        store.close()
    print(json.dumps(out))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from cloud_aggregator.store.risk_drift import latest_drift
    from cloud_aggregator.store.risk_models import active_model
    from cloud_aggregator.store.warning_deliveries import counts_by_status
    from cloud_aggregator.store.warning_runs import recent_runs

    _cfg, store, _keys = _open(args)
    try:
        rows, outbox = recent_runs(store, args.limit), counts_by_status(store)
        model, drift = active_model(store), latest_drift(store)
    finally:
        store.close()
    if model is not None:
        model = {k: model[k] for k in MODEL_SHOWN} | {"metrics": json.loads(model["metrics"] or "{}")}
    print(json.dumps({"runs": rows, "deliveries": outbox, "risk_model": model,
                      "drift": {k: drift[k] for k in DRIFT_SHOWN} if drift else None}, ensure_ascii=False))
    return 0


def add_arguments(sub: Any) -> None:  # noqa: ANN401 - argparse subparsers
    w = sub.add_parser("warnings", help="early warnings: scoring runs, deliveries")
    wsub = w.add_subparsers(dest="warnings_cmd", required=True)
    r = wsub.add_parser("run", help="score now: warnings, routing, escalation, deliveries (prints the run as JSON)")
    r.add_argument("--config")
    r.add_argument("--as-of", help="score as if it were this UTC date/time (replays, demos on old records)")
    r.add_argument("--no-deliver", action="store_true", help="queue deliveries but do not send them")
    r.set_defaults(func=cmd_run)
    t = wsub.add_parser("train", help="train the risk model on this school's records and outcomes (prints metrics)")
    t.add_argument("--config")
    t.add_argument("--as-of", help="the training time recorded (default now)")
    t.add_argument("--until", help="use records up to this date only (YYYY-MM-DD)")
    t.set_defaults(func=cmd_train)
    d = wsub.add_parser("deliver", help="escalate what is due and send/retry the delivery outbox")
    d.add_argument("--config")
    d.add_argument("--as-of")
    d.add_argument("--retry-failed", action="store_true", help="also retry deliveries that used up their attempts")
    d.set_defaults(func=cmd_deliver)
    h = wsub.add_parser("runs", help="recent runs with counts and freshness, and the outbox by status")
    h.add_argument("--config")
    h.add_argument("--limit", type=int, default=10)
    h.set_defaults(func=cmd_runs)
