"""`grlm serve` as a child process for tests: on 127.0.0.1 and an ephemeral port, with bounded
waits for its start and its stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

# The child imports the grlm this test process imports (the installed package under
# scripts/test.sh, python/ with a dev build): the same sys.path.
PYTHONPATH = os.pathsep.join(p for p in sys.path if p)
CHILD_ENV = dict(os.environ, PYTHONPATH=PYTHONPATH)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def interrupt(process: subprocess.Popen) -> None:
    """Ctrl-C (a graceful stop, exit 0), killing the server if it has not stopped in 30 s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def serve_process(args: list[str], env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Starts ``grlm serve ARGS`` and returns it with its base URL once /healthz answers 200
    (AssertionError, with its stderr, when it exits first or takes over 60 s)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "grlm.cli", "serve", *args, "--port", str(port)],
        env=dict(CHILD_ENV, **(env_extra or {})),
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"grlm serve exited {process.returncode}: {process.stderr.read().decode()}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("grlm serve did not answer /healthz within 60 s")
