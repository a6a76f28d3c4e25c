"""A real `docctl serve` for the tests and benchmarks that need one: started on a free loopback
port in its own process group, asked over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(root: Path, log: Path, *, workers: int = 2) -> tuple[subprocess.Popen, str]:
    """`docctl serve --workers N` on ``root``; (process, base URL) at once, before it answers."""
    port = free_port()
    command = ["-m", "docctl.cli", "--instance", str(root), "serve", "--port", str(port), "--workers", str(workers)]
    with open(log, "wb") as output:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, *command], stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, f"http://127.0.0.1:{port}"


def status(url: str, token: str | None = None) -> int | None:
    """The HTTP status of GET ``url`` (None when nothing answers)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our own loopback server
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:  # noqa: S310 - our own loopback server
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None
