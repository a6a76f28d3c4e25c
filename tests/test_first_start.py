"""A first start that never fails (issue 31): a server process answers at once while it prepares,
pages and the API say "being prepared" (503, Retry-After) instead of hanging, one process builds
while the others wait for it, and a failed attempt is tried again instead of ending the process."""

from __future__ import annotations

import multiprocessing
import shutil
import threading
import time

from conftest import release

from docctl import create_app
from docctl.ops.instance import Instance
from docctl.ops.preparation import Preparation


def test_pages_say_the_register_is_being_prepared_until_this_process_is_ready(instance, people, monkeypatch):
    release(instance, people)
    gate = threading.Event()
    real_start = Instance.start

    def slow_start(self, **kwargs):
        kwargs["step"]("register")
        gate.wait(10)
        return real_start(self, **kwargs)

    monkeypatch.setattr(Instance, "start", slow_start)
    monkeypatch.setattr(Instance, "_prepared_already", lambda self: False)  # as on a first start
    app = create_app(instance.root, {"TESTING": True}, background=True)
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["status"] == "starting"
    page = client.get("/documents", headers={"Accept-Language": "pl"})
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "Rejestr jest przygotowywany" in page.get_data(as_text=True) or "being prepared" in page.get_data(
        as_text=True
    )
    api = client.get("/api/v1/documents")
    assert api.status_code == 503 and api.get_json()["error"]["detail"]["preparing"]["step"] == "register"
    gate.set()
    app.extensions["docctl"].preparation.ready.wait(20)
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200


def _prepare(root: str, results) -> None:
    instance = Instance(root)
    started = time.monotonic()
    instance.prepare()
    instance.preparation.ready.wait(120)
    results.put((instance.preparation.ready.is_set(), time.monotonic() - started))


def test_two_processes_prepare_a_never_indexed_instance_one_builds_none_fails(instance, people):
    """As gunicorn's two workers after a restore: the derived data is gone, both start at once."""
    for n in range(1, 4):
        release(instance, people, doc_id=f"P-0{n}", text=f"Tekst {n}.\n", reason="r")
    root = instance.root
    instance.search.close()
    instance.search_all.close()
    for target in [*root.glob("catalog.sqlite3*"), root / "search", root / "search-all"]:
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_prepare, args=(str(root), results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=180) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert [ok for ok, _ in answers] == [True, True]
    assert all(worker.exitcode == 0 for worker in workers)
    fresh = Instance(root)
    assert len(fresh.catalog.master_list(fresh.today())) == 3
    assert fresh.search.indexed_commit() == fresh.store.head()
    assert '"state": "ready"' in (root / "preparing.json").read_text()


def test_a_failed_preparation_is_tried_again_not_fatal(tmp_path, monkeypatch):
    monkeypatch.setattr("docctl.ops.preparation.RETRY_AFTER", 0.01)
    attempts = []

    def work(step):
        attempts.append(1)
        step("register")
        if len(attempts) < 3:
            raise OSError("disk hiccup")

    preparation = Preparation(tmp_path)
    preparation.begin(work)
    assert preparation.ready.wait(10)
    assert len(attempts) == 3
    assert preparation.progress()["state"] == "ready"


def test_a_process_whose_derived_data_is_current_serves_at_once(instance, people):
    """A worker replaced or a restart: nothing to build, so no page waits."""
    release(instance, people)
    app = create_app(instance.root, {"TESTING": True}, background=True)
    assert app.extensions["docctl"].preparation.ready.is_set()
    assert app.test_client().get("/healthz").status_code == 200


def test_the_index_of_all_revisions_is_built_by_a_process_of_its_own(instance, people):
    """Two writers in a spawned process (ops/index_build.py); one builder at a time."""
    from docctl.ops.index_build import build_all_revisions
    from docctl.stores.locks import exclusive

    release(instance, people)
    release(instance, people, "P-01", "# Nadzór\n\nDruga rewizja o audytach.\n", reason="Druga")
    instance.search_all.close()
    shutil.rmtree(instance.root / "search-all")
    settings = {"language": "pl", "lock_timeout": 5.0}
    with exclusive(instance.root / "index-all-build.lock", timeout=1, busy="held"):
        assert build_all_revisions(instance.root, **settings) is False  # another process builds it
    assert build_all_revisions(instance.root, **settings) is True
    hits = instance.search_all.search("audytach", at=instance.today(), scope="all").hits
    assert [(hit.doc_id, hit.revision) for hit in hits] == [("P-01", 2)]
