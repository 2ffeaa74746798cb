"""grlm ground: ground generated Term IDs against a catalog of Term IDs."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ground", help="map generated Term IDs to catalog items (direct, then structural)",
        description="Ground Term IDs given as arguments or read from a file (one per line, "
                    "'[a, b, c, d, e]' or 'a, b, c, d, e'); prints one JSON line per Term ID.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--tids", help="catalog Term IDs: JSON map {item_id: [terms]} or JSONL")
    source.add_argument("--index", help="a grounding index written by --save-index")
    parser.add_argument("--mode", choices=["positional", "bag"], default="positional")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--queries", help="file of Term IDs to ground, one per line ('-': stdin)")
    parser.add_argument("--save-index", help="write the built index to this file")
    parser.add_argument("term_ids", nargs="*", help="Term IDs to ground, e.g. '[a, b, c, d, e]'")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from grlm.ground import Grounder
    from grlm.term_ids import parse_term_id

    if args.index:
        grounder = Grounder.load(args.index)
    else:
        grounder = Grounder.from_file(args.tids, mode=args.mode)
    if args.save_index:
        grounder.save(args.save_index)
    lines = list(args.term_ids)
    if args.queries == "-":
        lines += [line for line in sys.stdin if line.strip()]
    elif args.queries:
        with open(args.queries, encoding="utf-8") as stream:
            lines += [line for line in stream if line.strip()]
    queries = [parse_term_id(line) for line in lines]
    for query, result in zip(queries, grounder.ground_batch(queries, k=args.top_k)):
        print(json.dumps({"term_id": query, "hit": result.hit,
                          "items": list(result.item_ids), "scores": list(result.scores)}))
    return 0
