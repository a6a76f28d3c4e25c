"""Production serving: several gunicorn worker processes (both cores; issue 12), or one waitress
process. Every worker opens the instance itself after the fork — git, the SQLite databases and
the search index are safe across processes (compare-and-swap refs, WAL, one index writer by
``flock``) — so nothing opened in one process is shared by another.
"""

from __future__ import annotations

from pathlib import Path


def serve(root: Path, *, host: str, port: int, workers: int, threads: int) -> None:
    from . import create_app
    from .instance import Instance

    if workers == 1:
        import waitress

        waitress.serve(create_app(root, background=True), host=host, port=port, threads=threads, ident="docctl")
        return
    from gunicorn.app.base import BaseApplication

    # Refuse a broken instance here, with one clear error, rather than in workers that the
    # arbiter would start again and again.
    _ = Instance(root).secret_key

    class _Application(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "timeout": 120,
                "graceful_timeout": 20,
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "warning",
                "proc_name": "docctl",
                # One request per connection: with keep-alive, a client's connections all stay
                # with the worker that happened to accept them, and 8 long-lived connections
                # often landed on one worker — half the machine idle, throughput halved at
                # random (measured at 2,000 x 20: document page 260-660 req/s with keep-alive,
                # 900-960 without; JSON 1,160-1,310 -> 1,240-1,460). Each new connection goes to
                # whichever worker is free; on a LAN (or behind a reverse proxy, which keeps
                # its own client connections alive) a connection costs ~0.1 ms.
                "keepalive": 0,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return create_app(root, background=True)

    _Application().run()
