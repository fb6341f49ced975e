"""``cloud-aggregator deadletters list|show|purge``: read why messages were refused, from a shell.

Shows what the IT view shows (device, time, reason, size, repeats); ``show`` adds the digest and
the 256-byte printable preview, which is all the store ever kept of a refused payload.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config")
    sub = p.add_subparsers(dest="dl_cmd", required=True)
    ls = sub.add_parser("list", help="newest first: id, last seen, device, repeats, reason")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--offset", type=int, default=0)
    ls.add_argument("--device")
    ls.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    sh = sub.add_parser("show", help="one dead letter with its digest and short preview")
    sh.add_argument("id", help="the id, or a unique prefix of at least 8 characters")
    pu = sub.add_parser("purge", help="delete dead letters (all, older than --days, or one --id)")
    g = pu.add_mutually_exclusive_group(required=True)
    g.add_argument("--days", type=float, help="last seen more than this many days ago")
    g.add_argument("--id")
    g.add_argument("--all", action="store_true")


def main(args: argparse.Namespace) -> int:
    from cloud_aggregator.config import load_aggregator_config
    from cloud_aggregator.store import iso, open_store

    store = open_store(load_aggregator_config(args.config).store)
    try:
        if args.dl_cmd == "list":
            page = store.dead_letter_page(args.limit, args.offset, args.device)
            if args.json:
                print(json.dumps(page, indent=1))
                return 0
            print(f"{page['total']} dead letter(s); showing {len(page['items'])} from {page['offset']}")
            for d in page["items"]:
                print(f"{d['id'][:12]}  {d['last_seen'] or d['received_at']}  {d['device'] or '?':<16} "
                      f"x{d['count']:<4} {d['reason']}")
            return 0
        if args.dl_cmd == "show":
            d = store.dead_letter_detail(args.id)
            if d is None:
                print(f"no single dead letter has an id starting with {args.id!r}")
                return 1
            print(json.dumps(d, indent=1, ensure_ascii=False))
            return 0
        if args.id:
            full = store.dead_letter_detail(args.id)
            n = store.purge_dead_letters(key=full["id"]) if full else 0
        elif args.days is not None:
            n = store.purge_dead_letters(before=iso(datetime.now(timezone.utc) - timedelta(days=args.days)))
        else:
            n = store.purge_dead_letters()
        print(json.dumps({"purged": n}))
        return 0
    finally:
        store.close()
