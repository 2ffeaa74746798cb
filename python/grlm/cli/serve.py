"""grlm serve: the grounding service (FastAPI + uvicorn, the ``serve`` extra).

Exit codes (as for ``grlm ground``):

0  the server was stopped with Ctrl-C (SIGINT); SIGTERM also stops it gracefully, and the
   process then ends by that signal, as uvicorn does;
1  the server could not start listening (e.g. the port is taken);
2  usage error: bad options, the ``serve`` extra missing, a bad admin token, ``--device cuda``
   without a usable GPU;
3  the catalog (--tids, --index, --store), the model (--model) or --token-file cannot be read.
"""

from __future__ import annotations

import argparse
import os
import sys
import typing

from grlm.ground.backend import DEVICES
from grlm.lm import PRECISIONS

EXIT_OK, EXIT_LISTEN, EXIT_USAGE, EXIT_BAD_FILE = 0, 1, 2, 3

EPILOG = """The admin token comes from $GRLM_ADMIN_TOKEN or --token-file; without one the state-changing
endpoints answer 403.

exit codes:
  0  stopped
  1  cannot listen (address in use, permission)
  2  usage error, the serve extra missing (pip install 'grlm[serve]'), a bad admin token,
     --device cuda without a GPU
  3  the catalog (or its store), the model or the token file cannot be read

A fleet: create one store (grlm catalog create), then start every worker and replica with
--store URL. Each follows the store; PUT/DELETE /v1/items commit to it and answer the committed
catalog_version; a read sent with X-Min-Catalog-Version: N answers from version N or newer."""


def _endpoint_lines() -> str:
    """The endpoints, as the routers of grlm.serve declare them (imported only for --help: the
    web stack is not needed to build the parser)."""
    try:
        from grlm.serve.routes import endpoints
    except ImportError as error:
        return f"endpoints: listed once the serve extra is installed ({error.name} is missing)\n"
    rows = [
        (f"{e.method} {e.path}", e.example, f"({e.note})" if e.note else "") for e in endpoints()
    ]
    rows.append(("GET /openapi.json, /docs", "the OpenAPI schema of all of them", ""))
    width = max(len(row[0]) for row in rows) + 2
    lines = [f"  {route.ljust(width)}{body}  {note}".rstrip() for route, body, note in rows]
    return "endpoints:\n" + "\n".join(lines) + "\n\n"


class _HelpWithEndpoints(argparse.RawDescriptionHelpFormatter):
    """Lists the endpoints above the epilog when, and only when, the help is shown."""

    def add_text(self, text):
        if text == EPILOG:
            super().add_text(_endpoint_lines() + text)
        else:
            super().add_text(text)


def register(subparsers) -> None:
    from grlm.ground.grounder import Mode

    parser = subparsers.add_parser(
        "serve",
        help="serve grounding (and recommendation) over HTTP",
        description="Serve POST /v1/ground (and /v1/recommend with --model) on HTTP; binds "
        "127.0.0.1 unless --host says otherwise.",
        epilog=EPILOG,
        formatter_class=_HelpWithEndpoints,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--tids", help="catalog Term IDs: JSON map {item_id: [terms]} or JSONL")
    source.add_argument("--index", help="a grounding index written by Grounder.save")
    source.add_argument(
        "--store",
        help="a catalog store URL (sqlite:///file.db, postgresql://...; made by `grlm catalog "
        "create`): the catalog is restored from it and follows it, changes are committed to it",
    )
    parser.add_argument(
        "--mode",
        choices=typing.get_args(Mode),
        help="structural mode of a catalog given with --tids (default positional; an index or "
        "a store keeps its own)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="where structural grounding runs (auto: the GPU when one is visible)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes, each loading the catalog itself (with --store, each "
        "follows the store: a change through one reaches all)",
    )
    parser.add_argument("--model", help="fine-tuned model directory: turns on /v1/recommend")
    parser.add_argument("--num-beams", type=int, default=10)
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="the model's dtype (auto: bf16 where the CPU has bf16 instructions, else fp32)",
    )
    parser.add_argument(
        "--token-file", help="file whose first line is the admin token (default: $GRLM_ADMIN_TOKEN)"
    )
    parser.add_argument(
        "--coalesce-window-ms",
        type=float,
        default=1.0,
        help="gather single-Term-ID requests this long (0: off; at most 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads of each ground_batch call (0: all cores); requests "
        "already run in parallel, one per core",
    )
    parser.add_argument("--max-body-bytes", type=int, default=1 << 20)
    parser.add_argument("--max-term-ids", type=int, default=1024)
    parser.add_argument("--max-terms", type=int, default=16)
    parser.add_argument("--max-k", type=int, default=1024)
    parser.add_argument("--max-history", type=int, default=50)
    parser.add_argument("--max-items-per-update", type=int, default=10_000)
    parser.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.set_defaults(func=run)


def _fail(message: str, code: int) -> int:
    print(f"grlm serve: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        return _fail(f"{error.name} is missing: pip install 'grlm[serve]'", EXIT_USAGE)
    from grlm.errors import CudaError, GrlmError
    from grlm.ground.backend import resolve_device
    from grlm.serve.app import CONFIG_ENV, ServeConfig, create_app
    from grlm.serve.auth import read_token
    from grlm.serve.limits import Limits
    from grlm.serve.state import source_from, store_source

    if not 0 <= args.coalesce_window_ms <= 1:
        return _fail(
            f"--coalesce-window-ms must be in [0, 1], got {args.coalesce_window_ms}", EXIT_USAGE
        )
    if args.mode is not None and args.tids is None:
        return _fail("--mode goes with --tids (an index or a store keeps its own mode)", EXIT_USAGE)
    if not 0 <= args.port <= 65535 or args.workers < 1 or args.num_beams < 1 or args.threads < 0:
        return _fail(
            "--port must be in [0, 65535]; --workers and --num-beams at least 1; "
            "--threads at least 0",
            EXIT_USAGE,
        )
    try:
        limits = Limits(
            max_body_bytes=args.max_body_bytes,
            max_term_ids=args.max_term_ids,
            max_terms=args.max_terms,
            max_k=args.max_k,
            max_history=args.max_history,
            max_items_per_update=args.max_items_per_update,
        )
    except GrlmError as error:
        return _fail(str(error).replace("limit max_", "--max-").replace("_", "-"), EXIT_USAGE)
    try:
        device = resolve_device(args.device)  # "auto" once, here: every worker then agrees
    except CudaError as error:
        return _fail(str(error), EXIT_USAGE)
    try:
        token = read_token(args.token_file)
    except OSError as error:
        return _fail(f"{args.token_file}: cannot read the token: {error.strerror}", EXIT_BAD_FILE)
    except ValueError as error:
        return _fail(str(error), EXIT_USAGE)
    config = ServeConfig(
        source=store_source(args.store, device)
        if args.store is not None
        else source_from(args.index, args.tids, args.mode or "positional", device),
        store=args.store,
        limits=limits,
        token=token,
        model_dir=args.model,
        num_beams=args.num_beams,
        precision=args.precision,
        coalesce_window_ms=args.coalesce_window_ms,
        num_threads=args.threads,
    )
    if args.model is not None and not os.path.isdir(args.model):
        return _fail(f"{args.model}: not a model directory", EXIT_BAD_FILE)
    # With several workers each loads the catalog itself: it is loaded here first, so that a
    # catalog no worker could read is one error and exit 3, not workers failing in turn.
    check = (lambda: _check_store(args.store)) if args.store is not None else config.source.load
    start = check if args.workers > 1 else lambda: create_app(config)
    try:
        app = start()
    except OSError as error:
        return _fail(
            f"{error.filename or config.source.path}: cannot read: {error.strerror}", EXIT_BAD_FILE
        )
    except GrlmError as error:
        return _fail(str(error), EXIT_BAD_FILE)
    if args.workers > 1:
        del app  # the workers load their own
        return _run_workers(args, config, CONFIG_ENV)
    return _listen(app, args)


def _check_store(url: str) -> None:
    """Opens (and closes) the store at ``url``: the parent's check that the workers can."""
    from grlm.store import open_store

    open_store(url).close()


def _listen(app, args: argparse.Namespace, **options) -> int:
    import uvicorn

    _short_gil_switch()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
            **options,
        )
    )
    try:
        server.run()
    except SystemExit as stop:  # uvicorn exits 1 when it cannot bind
        return EXIT_LISTEN if stop.code else EXIT_OK
    except KeyboardInterrupt:  # uvicorn shuts down gracefully, then re-raises the SIGINT
        return EXIT_OK
    return EXIT_OK if server.started else EXIT_LISTEN


def _short_gil_switch() -> None:
    """Grounding runs on worker threads that need the GIL back from the event loop to deliver
    their answers; Python's default switch interval (5 ms) would let one wait that long."""
    sys.setswitchinterval(0.0005)


def _run_workers(args: argparse.Namespace, config, env_name: str) -> int:
    """Several processes on one port, each loading the catalog from the same file (read-only:
    they share nothing else, so online updates reach only the worker that took them)."""
    import json

    import uvicorn

    data = json.loads(config.to_json())
    data["token_file"] = args.token_file
    os.environ[env_name] = json.dumps(data)
    try:
        uvicorn.run(
            "grlm.serve.app:app_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            access_log=False,
        )
    except SystemExit as stop:
        return EXIT_LISTEN if stop.code else EXIT_OK
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK
