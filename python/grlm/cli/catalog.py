"""grlm catalog: create a catalog store, show it, write a checkpoint of it (``grlm.store``).

Each command prints one JSON object. Every error is one line on stderr,
``grlm catalog: error: reason``; exit codes: 0 done, 1 another process is writing a checkpoint
(nothing written), 2 usage error, 3 the store or an input file cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from datetime import datetime, timezone

EXIT_OK, EXIT_LOCKED, EXIT_USAGE, EXIT_BAD_STORE = 0, 1, 2, 3

EPILOG = """store URLs:
  sqlite:///relative/path.db   sqlite:////absolute/path.db   postgresql://user@host:port/db

exit codes:
  0  done
  1  another process is writing a checkpoint (nothing written)
  2  usage error
  3  the store or an input file cannot be used (missing, not a store, unreachable, invalid)"""


def register(subparsers) -> None:
    from grlm.ground.grounder import Mode

    parser = subparsers.add_parser(
        "catalog",
        help="create a catalog store (SQLite or PostgreSQL), show it, write a checkpoint",
        description="The catalog of record: items, every committed change and checkpoints, in "
        "SQLite or PostgreSQL. Each command prints one JSON object.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="catalog_command", required=True)
    create = commands.add_parser("create", help="a new store holding a catalog as version 0")
    create.add_argument("--store", required=True, help="where: a store URL (see below)")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--tids", help="catalog Term IDs: JSON map {item_id: [terms]} or JSONL")
    source.add_argument("--index", help="a grounding index (grlm ground --save-index)")
    create.add_argument(
        "--mode", choices=typing.get_args(Mode), help="with --tids (default positional)"
    )
    show = commands.add_parser("show", help="version, item count and newest checkpoint")
    show.add_argument("--store", required=True)
    checkpoint = commands.add_parser("checkpoint", help="write a checkpoint of the newest version")
    checkpoint.add_argument("--store", required=True)
    checkpoint.add_argument(
        "--keep-changes",
        action="store_true",
        help="keep the whole change log (default: delete the changes at or before the oldest "
        "checkpoint kept, which no start replays)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from grlm.errors import GrlmError

    if args.catalog_command == "create" and args.index and args.mode:
        return _fail("--mode goes with --tids (an index keeps its own mode)", EXIT_USAGE)
    try:
        return COMMANDS[args.catalog_command](args)
    except (GrlmError, OSError) as error:
        return _fail(str(error), EXIT_BAD_STORE)


def _create(args: argparse.Namespace) -> int:
    from grlm.ground import Grounder
    from grlm.store import create_store

    if args.index:
        grounder = Grounder.load(args.index)
    else:
        grounder = Grounder.from_file(args.tids, mode=args.mode or "positional")
    with create_store(args.store, grounder) as store:
        _print(_summary(store))
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from grlm.store import open_store

    with open_store(args.store) as store:
        _print(_summary(store))
    return EXIT_OK


def _checkpoint(args: argparse.Namespace) -> int:
    from grlm.store import open_store, restore

    with open_store(args.store) as store:
        restored = restore(store)
        written = store.write_checkpoint(restored.grounder, restored.version)
        if written is None:
            return _fail("another process is writing a checkpoint; nothing written", EXIT_LOCKED)
        pruned = 0 if args.keep_changes else store.prune_changes()
        _print({"store": store.url, "checkpoint": _checkpoint_json(written), "pruned": pruned})
    return EXIT_OK


COMMANDS = {"create": _create, "show": _show, "checkpoint": _checkpoint}


def _summary(store) -> dict:
    version = store.head_version()
    checkpoints = store.checkpoints()
    newest = checkpoints[0] if checkpoints else None
    return {
        "store": store.url,
        "version": version,
        "items": store.item_count(),
        "mode": store.config.mode,
        "term_id_length": store.config.term_id_length,
        "newest_checkpoint": None if newest is None else _checkpoint_json(newest),
        "changes_after_newest_checkpoint": version - (newest.version if newest else 0),
        "checkpoints": len(checkpoints),
    }


def _checkpoint_json(checkpoint) -> dict:
    written = datetime.fromtimestamp(checkpoint.written_at, timezone.utc)
    return {
        "version": checkpoint.version,
        "bytes": checkpoint.size,
        "written_at": written.isoformat(timespec="seconds"),
        "location": checkpoint.location,
    }


def _print(document: dict) -> None:
    print(json.dumps(document, ensure_ascii=False))


def _fail(message: str, code: int) -> int:
    print(f"grlm catalog: error: {message}", file=sys.stderr)
    return code
