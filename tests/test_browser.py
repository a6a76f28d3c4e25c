"""End to end in a real browser: `docctl serve` on a free loopback port, Debian's Chromium
driven by Playwright. Marked `browser` (run with `pytest -m browser`); skipped where no
Chromium or Playwright is installed. Screenshots land in the test's temporary folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import DOC, PASSWORD, make_instance, release

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path, clock):
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium installed")
    pytest.importorskip("playwright.sync_api")
    instance = make_instance(tmp_path / "inst", clock)
    people = {k: instance.users.get(k) for k in ("author", "approver", "qm")}
    release(instance, people)
    release(instance, people, text=DOC + "\n## 3. Audyty\nAudyty wewnętrzne raz w roku.\n", reason="Audyty")
    change = instance.workflow.create(
        people["author"], doc_id="P-01", markdown=DOC + "\nNowy akapit.\n", reason="Trzecie wydanie"
    )
    instance.workflow.submit(people["author"], change.number)
    port = free_port()
    env = {**os.environ, "DOCCTL_INSTANCE": str(tmp_path / "inst")}
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed after the server stops
    proc = subprocess.Popen(
        [sys.executable, "-m", "docctl.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - our own loopback server
            break
        except OSError:
            time.sleep(0.2)
    yield base, change.number
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def test_sign_release_read_and_search(server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, number = server
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        page = browser.new_page()

        def login(who: str) -> None:
            page.goto(base + "/login")
            page.fill("#login", who)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")

        def shot(name: str) -> None:
            page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)

        for signer in ("approver", "qm"):
            login(signer)
            assert f"Change {number}" in page.inner_text("main")
            page.goto(f"{base}/changes/{number}")
            page.fill("#sign-password", PASSWORD)
            page.click("form[action$='/approve'] button")
            shot(f"signed-{signer}")
            page.click("button.link")  # log out

        login("reader")
        page.goto(base + "/documents/P-01")
        assert "Nowy akapit." in page.inner_text("article.document")
        assert "SUPERSEDED" not in page.inner_text("main")
        page.click("text=I have read and understood revision 3")
        assert "You confirmed reading revision 3" in page.inner_text("main")
        page.goto(base + "/documents/P-01/revisions/1")
        assert "SUPERSEDED" in page.inner_text("main")
        shot("superseded")
        page.fill("#nav-q", "akapitu")  # inflected: the text says "akapit"
        page.press("#nav-q", "Enter")
        assert "P-01" in page.inner_text("ol.results")
        assert page.locator("ol.results mark").count() >= 1
        shot("search")
        browser.close()
