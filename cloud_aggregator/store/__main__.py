"""``python -m cloud_aggregator.store migrate [--config FILE]``: apply pending schema migrations."""

from __future__ import annotations

import argparse
import json
import sys


def migrate_main(args: argparse.Namespace) -> int:
    """Open the configured store (which applies pending migrations) and print the schema state."""
    from cloud_aggregator.config import load_aggregator_config
    from cloud_aggregator.store import open_store
    from cloud_aggregator.store.migrations import applied_versions

    cfg = load_aggregator_config(getattr(args, "config", None))
    store = open_store(cfg.store)
    try:
        print(json.dumps({"backend": cfg.store.backend, "applied_now": store.migrated_now,
                          "schema_version": max(applied_versions(store.db), default=0)}))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m cloud_aggregator.store")
    ap.add_argument("cmd", choices=["migrate"])
    ap.add_argument("--config")
    sys.exit(migrate_main(ap.parse_args()))
