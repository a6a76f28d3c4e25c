"""Production serving: several gunicorn worker processes (both cores; issue 12), or one waitress
process. Every worker opens the instance itself after the fork — git, the SQLite databases and
the search index are safe across processes (compare-and-swap refs, WAL, one index writer by
``flock``) — so nothing opened in one process is shared by another.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .memory import TRIM_EVERY, give_back, limit_arenas

log = logging.getLogger("docctl.background")
DAILY_LOOK_EVERY = 3600.0  # seconds: reviews due and copies to withdraw change by the day


def serve(create_app: Callable[..., object], root: Path, *, host: str, port: int, workers: int, threads: int) -> None:
    """Serve the app ``create_app(root, background=True)`` builds (the caller passes docctl's
    factory: the web layer sits above this one, so it is handed in, not imported)."""
    from .instance import Instance

    if workers == 1:
        import waitress

        app = with_background_work(create_app(root, background=True))
        waitress.serve(app, host=host, port=port, threads=threads, ident="docctl")
        return
    from gunicorn.app.base import BaseApplication

    limit_arenas()  # before any thread: the workers forked from here inherit it (memory.py)
    # Refuse a broken instance here, with one clear error, rather than in workers that the
    # arbiter would start again and again.
    _ = Instance(root).secret_key
    # /metrics counts every worker's requests (prometheus_client's multiprocess mode): the
    # folder is emptied at each start, before any worker imports prometheus_client.
    metrics = Path(root) / "metrics"
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)

    class _Application(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "timeout": 120,
                # SIGTERM: requests in flight get 8 s, then the workers go (a preparation or
                # an index build runs in daemon threads, which never hold the stop up).
                "graceful_timeout": 8,
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "warning",
                "proc_name": "docctl",
                # Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads
                # new connections over them, so connections kept alive stay evenly shared.
                # With one shared socket, a client's 8 kept-alive connections often all landed
                # on one worker (half the machine idle: 260-660 req/s), so connections were
                # closed after every request instead, which cost ~0.4 ms each. At 2,000 x 20,
                # same hour, alternating: document page 549-694 req/s without keep-alive,
                # 918-958 with it and one socket per worker; JSON 833-862 -> 921-1,180.
                "reuse_port": True,
                "keepalive": 5,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return with_background_work(create_app(root, background=True))

    _Application().run()


def with_background_work(app):
    """Send due notifications every ``NOTIFY_INTERVAL`` seconds and sync with ``GIT_REMOTE`` every
    ``SYNC_INTERVAL``, from threads of this process. Every worker may run them: the outbox's
    claims send each message once, and syncs take the repository's write lock."""
    instance = app.extensions["docctl"]
    from ..mail.delivery import deliver

    last_look = [0.0]

    def notify() -> None:
        daily = time.monotonic() - last_look[0] >= DAILY_LOOK_EVERY
        deliver(instance, instance.outbox, daily=daily)
        if daily:
            last_look[0] = time.monotonic()
            instance.workflow.anchor_quietly("daily")  # main anchored at least daily (issue 30)
            instance.store.update_commit_graph()  # keeps incremental verification quick

    _every(float(instance.settings["NOTIFY_INTERVAL"]), notify, "docctl-notify")
    _every(TRIM_EVERY, give_back, "docctl-memory")
    if instance.replicator is not None:
        _every(float(instance.settings["SYNC_INTERVAL"]), instance.replicator.sync, "docctl-sync")
    return app


def _every(seconds: float, work, name: str) -> None:
    """Run ``work`` every ``seconds`` (jittered, so workers and nodes spread out) in a daemon
    thread that outlives any one failure, which is logged; 0 or less: never."""
    if seconds <= 0:
        return

    def loop() -> None:
        while True:
            time.sleep(seconds * random.uniform(0.8, 1.2))  # noqa: S311 - spreading workers, not a secret
            try:
                work()
            except Exception:  # noqa: BLE001 - the loop must outlive any one failure; it is logged
                log.exception("%s failed; trying again in %s s", name, seconds)

    threading.Thread(target=loop, name=name, daemon=True).start()
