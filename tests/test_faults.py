"""Faults drilled with real components (issue 31): PostgreSQL stopped mid-load and restarted, the
disk full during a release, a server worker killed mid-request, SIGTERM while the server builds.
(The git remote unreachable during releases is drilled in test_replication.py: released locally,
pushed by the next sync.)"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import PASSWORD, make_instance, release
from serving import serve, status

from docctl import create_app
from docctl.core.errors import Unavailable


def _bearer(instance, login: str) -> dict:
    return {"Authorization": f"Bearer {instance.users.create_token(login)}"}


def test_postgresql_stopped_mid_load_answers_503_never_500_and_loses_nothing(tmp_path, clock):
    from postgres_server import PostgresServer

    try:
        server = PostgresServer(durable=True)  # stopped as in a crash: what was committed must stay
    except RuntimeError as why:
        pytest.skip(f"no PostgreSQL server can be started here: {why}")
    try:
        url = server.new_database()
        instance = make_instance(tmp_path / "inst", clock, overrides={"DATABASE_URL": url})
        people = {p.login: p for p in instance.users.list()}
        release(instance, people)
        headers, quality = _bearer(instance, "reader"), _bearer(instance, "qm")
        app = create_app(instance.root, {"TESTING": True, "DATABASE_URL": url}, clock=clock)
        assert app.test_client().post("/api/v1/documents/P-01/acknowledge", headers=headers).status_code == 200
        statuses: list[int] = []
        stop = threading.Event()

        def load() -> None:
            client = app.test_client()
            while not stop.is_set():
                statuses.append(client.get("/api/v1/documents/P-01", headers=headers).status_code)
                time.sleep(0.01)

        worker = threading.Thread(target=load)
        worker.start()
        time.sleep(0.3)
        server.pause()
        time.sleep(0.5)
        client = app.test_client()
        health = client.get("/healthz")
        assert health.status_code == 503, health.get_data(as_text=True)
        assert health.get_json()["parts"]["database"]["status"] == "failing", health.get_json()
        during = client.post("/api/v1/documents/P-01/acknowledge", headers=headers)
        assert during.status_code == 503, during.get_data(as_text=True)[:500]
        server.resume()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and client.get("/healthz").status_code != 200:
            time.sleep(0.2)
        recovered = _wait(lambda: statuses[-3:] == [200, 200, 200], 20)
        stop.set()
        worker.join(10)
        seen = {code: statuses.count(code) for code in set(statuses)}
        assert set(statuses) <= {200, 503}, seen
        assert 503 in statuses and recovered, seen
        answer = client.get("/api/v1/documents/P-01/acknowledgements", headers=quality).get_json()
        assert "reader" in {c["login"] for c in answer["confirmed"]}  # given before the stop, still there
        app.extensions["docctl"].databases["accounts"].close()
        instance.databases["accounts"].close()  # this test's own connections went with the server
        report = instance.verify(full=True)
        assert report.ok, report.problems
    finally:
        server.stop()


@pytest.fixture
def small_disk(tmp_path):
    """A filesystem of the test's own, 24 MB, to fill up."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a small filesystem here (needs root with CAP_SYS_ADMIN): {done.stderr!r}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    with open(path, "wb") as filler:
        chunk = b"\0" * (1 << 16)
        try:
            while True:
                filler.write(chunk)
                filler.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_disk_refuses_the_release_cleanly_and_the_next_one_works(small_disk, clock):
    instance = make_instance(small_disk / "inst", clock)
    people = {p.login: p for p in instance.users.list()}
    release(instance, people)  # both signers' keys exist already
    wf = instance.workflow
    change = wf.create(
        people["author"],
        doc_id="P-02",
        markdown="# Druga\n\nTekst.\n",
        reason="Nowa",
        title="Druga",
        doc_type="procedure",
        unit="OR",
    )
    wf.submit(people["author"], change.number)
    wf.approve(people["approver"], change.number, password=PASSWORD)
    head = instance.store.head()
    _fill(small_disk / "filler")
    with pytest.raises(Unavailable, match="the disk holding the instance is full"):
        wf.approve(people["qm"], change.number, password=PASSWORD)
    assert instance.store.head() == head  # nothing released, nothing half-written on main
    assert wf.get(change.number).state == "in_review"
    (small_disk / "filler").unlink()
    assert wf.approve(people["qm"], change.number, password=PASSWORD).state == "released"
    report = instance.verify(full=True)
    assert report.ok, report.problems


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_worker_killed_mid_request_is_replaced_and_the_others_answer(instance, people, tmp_path):
    release(instance, people)
    proc, base = serve(instance.root, tmp_path / "server.log")
    try:
        assert _wait(lambda: status(base + "/healthz") == 200, 30), (tmp_path / "server.log").read_text()[-2000:]
        assert _wait(lambda: len(_children(proc.pid)) == 2, 10)
        victim = sorted(_children(proc.pid))[0]
        os.kill(victim, signal.SIGKILL)
        answers = [status(base + "/login") for _ in range(20)]
        assert answers.count(200) >= 18, answers  # a connection caught at the moment of the kill may fail
        assert _wait(lambda: len(_children(proc.pid)) == 2 and victim not in _children(proc.pid), 20)
        assert _wait(lambda: status(base + "/healthz") == 200, 10)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_sigterm_stops_the_server_within_ten_seconds_even_while_it_builds(instance, people, tmp_path):
    for n in range(1, 6):
        release(instance, people, doc_id=f"P-0{n}", text=f"Tekst {n}.\n", reason="r")
    instance.search.close()
    for target in [*instance.root.glob("catalog.sqlite3*"), instance.root / "search", instance.root / "search-all"]:
        subprocess.run(["rm", "-rf", str(target)], check=True)
    proc, base = serve(instance.root, tmp_path / "server.log")
    try:
        assert _wait(lambda: status(base + "/healthz") is not None, 30)  # answering, prepared or not
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
