"""A server's first start on any history (issue 31): it answers at once and builds in the background.

A server's workers used to build the derived data (the register, the change index, the search
index) before serving, each worker for itself: nothing answered for two minutes on a long
history never indexed, and a worker that met another's index lock exited and took gunicorn down
with it. Now each worker starts answering at once, and a thread of each prepares the instance
under one lock file, so one process builds while the others wait for it and then only catch up
(a no-op). Until its process is ready, a page says "the register is being prepared" with the
progress the builder writes to ``preparing.json`` (503, ``Retry-After``). A failure is logged
and tried again; it never ends the process.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..core.clock import utc_now
from ..core.errors import Conflict
from ..stores.locks import exclusive

log = logging.getLogger("docctl")
STEPS = ("databases", "register", "audit trail", "changes", "search")
RETRY_AFTER = 5  # seconds, for a client told to come back (503)


class Preparation:
    """The state of one process's preparation, and the instance-wide progress of the builder."""

    def __init__(self, root: Path) -> None:
        self.path = root / "preparing.json"
        self.lock = root / "prepare.lock"
        self.ready = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self, work: Callable[[Callable[[str], None]], None]) -> None:
        """Run ``work(step)`` in a thread, under the instance's preparation lock, until it succeeds;
        ``step(name)`` records which of :data:`STEPS` it is at."""
        if self._thread is not None and self._thread.is_alive():
            return

        def run() -> None:
            attempt = 0
            done = False
            while not done:
                attempt += 1
                try:
                    with exclusive(self.lock, timeout=24 * 3600, busy="another process prepares the instance"):
                        self._write("preparing", STEPS[0])
                        work(lambda name: self._write("preparing", name))
                        self._write("ready", None)
                    self.ready.set()
                    done = True
                except Conflict:
                    continue
                except Exception:  # noqa: BLE001 - logged and tried again: a worker never exits for it
                    log.exception("preparing the instance failed (attempt %s); trying again", attempt)
                    self._write("retrying", None, error=True)
                    time.sleep(min(60, RETRY_AFTER * attempt))

        self._thread = threading.Thread(target=run, name="docctl-prepare", daemon=True)
        self._thread.start()

    def mark_ready(self) -> None:
        """Prepared in the foreground (the CLI, the tests)."""
        self.ready.set()

    def progress(self) -> dict:
        """What the builder last recorded: ``{"state", "step", "step_number", "steps", "since"}``."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {"state": "starting", "step": None, "since": None}
        step = data.get("step")
        data["step_number"] = STEPS.index(step) + 1 if step in STEPS else None
        data["steps"] = len(STEPS)
        return data

    def _write(self, state: str, step: str | None, *, error: bool = False) -> None:
        data = {"state": state, "step": step, "since": utc_now().isoformat(timespec="seconds"), "pid": os.getpid()}
        if error:
            data["error"] = "the last attempt failed; see the server log"
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            temporary.write_text(json.dumps(data), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError:  # progress is for people; a full disk must not stop the preparation
            log.warning("could not record the preparation's progress", exc_info=True)
