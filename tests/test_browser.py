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
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import DOC, PASSWORD, make_instance, release

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _need_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium installed")
    pytest.importorskip("playwright.sync_api")


def _serve(root: Path, log_path: Path):
    """Start `docctl serve` on a free port; returns (process, base URL, log file) once healthy."""
    port = free_port()
    env = {**os.environ, "DOCCTL_INSTANCE": str(root)}
    log = open(log_path, "wb")  # noqa: SIM115 - closed after the server stops
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
    return proc, base, log


@contextmanager
def _browser_page():
    from playwright.sync_api import sync_playwright

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
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _login(page, base: str, who: str) -> None:
    page.context.clear_cookies()
    page.goto(base + "/login")
    page.fill("#login", who)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


@pytest.fixture
def server(tmp_path, clock):
    _need_browser()
    instance = make_instance(tmp_path / "inst", clock)
    people = {k: instance.users.get(k) for k in ("author", "approver", "qm")}
    release(instance, people)
    release(instance, people, text=DOC + "\n## 3. Audyty\nAudyty wewnętrzne raz w roku.\n", reason="Audyty")
    change = instance.workflow.create(
        people["author"], doc_id="P-01", markdown=DOC + "\nNowy akapit.\n", reason="Trzecie wydanie"
    )
    instance.workflow.submit(people["author"], change.number)
    proc, base, log = _serve(tmp_path / "inst", tmp_path / "server.log")
    yield base, change.number
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def test_sign_release_read_and_search(server, tmp_path):
    base, number = server
    with _browser_page() as page:

        def login(who: str) -> None:
            _login(page, base, who)

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
        shown = page.goto(base + "/documents/P-01")
        assert shown.headers.get("content-encoding") == "gzip"  # the stitched stream, read by a browser
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


# -- issue 17: the text as written, conflicts resolved before recording, no dead ends -----------
P02 = "# Zapisy\n\n## 1. Cel\nZapisy są przechowywane w wydziale.\n\n## 2. Zakres\nWszystkie zapisy.\n"


@pytest.fixture
def editing_server(tmp_path, clock):
    """P-01: a draft to edit in the browser. P-02: a change that conflicts with a later release.
    P-03: a change edited by the only active quality manager (nobody can approve it)."""
    _need_browser()
    instance = make_instance(tmp_path / "inst", clock)
    people = {k: instance.users.get(k) for k in ("author", "author2", "approver", "qm")}
    wf = instance.workflow
    release(instance, people)
    release(instance, people, doc_id="P-02", title="Zapisy", text=P02)
    release(instance, people, doc_id="P-03", title="Skargi", text="# Skargi\n\nSkargi rozpatruje sekretarz.\n")
    draft = wf.create(people["author"], doc_id="P-01", markdown=DOC, reason="Jedna linia")
    theirs = wf.create(
        people["author2"], doc_id="P-02", markdown=P02.replace("w wydziale", "w archiwum zakładowym"), reason="B"
    )
    release(instance, people, doc_id="P-02", title="Zapisy", text=P02.replace("w wydziale", "w sekretariacie"))
    instance.users.update("qm2", active=False)
    blocked = wf.create(people["author"], doc_id="P-03", markdown="# Skargi\n\nSkargi rozpatruje wójt.\n", reason="C")
    blocked = wf.edit(
        people["qm"], blocked.number, markdown="# Skargi\n\nSkargi rozpatruje burmistrz.\n", expected_head=blocked.head
    )
    wf.submit(people["author"], blocked.number)
    wf.approve(people["approver"], blocked.number, password=PASSWORD)
    proc, base, log = _serve(tmp_path / "inst", tmp_path / "server.log")
    yield instance, base, {"draft": draft.number, "conflict": theirs.number, "blocked": blocked.number}
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def _git(instance, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(instance.store.path), *args], capture_output=True, text=True, check=True
    ).stdout


def test_browser_edit_stores_the_text_as_written(editing_server, tmp_path):
    instance, base, numbers = editing_server
    number = numbers["draft"]
    main_text = instance.store.read_blob(instance.store.blob_id(instance.store.head(), "documents/P-01.md"))
    with _browser_page() as page:
        _login(page, base, "author")
        page.goto(f"{base}/changes/{number}/edit")
        typed = page.input_value("#markdown").replace("Dotyczy wszystkich", "Obejmuje wszystkie")
        page.fill("#markdown", typed)
        page.click("button[value=save]")
        assert "Draft saved." in page.inner_text("main")
        redline = page.inner_html("div.redline")
        page.screenshot(path=str(tmp_path / "one-line-edit.png"), full_page=True)
    ref = f"refs/heads/changes/{number}"
    stored = instance.store.read_blob(instance.store.blob_id(instance.store.head(ref), "documents/P-01.md"))
    stat = _git(instance, "diff", "--stat", "main", ref, "--", "documents/P-01.md")
    print(stat)
    assert stored == main_text.replace(b"Dotyczy wszystkich", b"Obejmuje wszystkie")  # byte for byte
    assert "1 file changed, 1 insertion(+), 1 deletion(-)" in stat
    assert redline.count("<ins") == 1 and redline.count("<del") == 1


def test_browser_conflict_is_resolved_before_it_is_recorded(editing_server, tmp_path):
    instance, base, numbers = editing_server
    number = numbers["conflict"]
    head_before = instance.workflow.get(number).head
    with _browser_page() as page:
        _login(page, base, "author2")
        page.goto(f"{base}/changes/{number}")
        page.click("form[action$='/update'] button")
        assert "Resolve the conflict" in page.inner_text("main")
        marked = page.input_value("#markdown")
        assert "<<<<<<< change" in marked and "w sekretariacie" in marked and "w archiwum zakładowym" in marked
        assert instance.workflow.get(number).head == head_before  # nothing recorded yet
        page.click("button[value=save]")  # markers still there: refused, text kept
        assert "merge-conflict markers on line(s)" in page.inner_text("main")
        assert page.input_value("#markdown") == marked
        page.screenshot(path=str(tmp_path / "conflict.png"), full_page=True)
        resolved = "\n".join(
            line for line in marked.split("\n") if not line.startswith(("<<<<<<<", "=======", ">>>>>>>"))
        ).replace("Zapisy są przechowywane w sekretariacie.\n", "")
        page.fill("#markdown", resolved)
        page.click("button[value=save]")
        assert "Draft saved." in page.inner_text("main")
    change = instance.workflow.get(number)
    text = instance.workflow.content(change)
    assert change.base_revision == 2 and "w archiwum zakładowym" in text and "<<<<<<<" not in text
    assert "\r" not in text and "w sekretariacie" not in text


def test_browser_single_quality_manager_dead_end_is_visible(editing_server, tmp_path):
    instance, base, numbers = editing_server
    number = numbers["blocked"]
    with _browser_page() as page:
        _login(page, base, "qm")
        assert f"Change {number}" in page.inner_text("main")  # stays in the QM's tasks
        assert "Changes nobody can sign" in page.inner_text("main")
        page.goto(f"{base}/changes/{number}")
        text = page.inner_text("main")
        assert "nobody can sign this now" in text and "docctl user grant" in text
        assert page.locator("form[action$='/approve']").count() == 0  # no sign form for the editor
        page.screenshot(path=str(tmp_path / "dead-end.png"), full_page=True)
        _login(page, base, "author")
        assert f"Change {number}" in page.inner_text("main")


def test_browser_auditor_trail_verification_and_register_as_of(editing_server, tmp_path):
    """An auditor filters the trail, runs verification, opens the register as it stood on a day."""
    instance, base, _ = editing_server
    first_day = instance.catalog.revisions("P-01")[-1].released_at.date().isoformat()
    with _browser_page() as page:
        _login(page, base, "auditor")
        page.click("nav >> text=Audit")
        assert "Audit trail" in page.inner_text("h1")
        page.fill("#a-doc", "P-03")
        page.click("form.filters button")
        rows = page.inner_text("table.audit tbody")
        assert "signed" in rows and "edited" in rows and "P-02" not in rows
        page.click("text=Verify the whole history now")
        assert "The history holds" in page.inner_text("section.verification")
        page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)
        page.goto(f"{base}/documents?as_of={first_day}")
        assert f"THE REGISTER AS IT STOOD ON {first_day}" in page.inner_text("main")
        page.click("table.list >> text=P-01")
        assert f"AS OF {first_day}" in page.inner_text("main")
        assert "Change record" in page.inner_text("main")


# -- issue 16: the Polish interface, on a phone, checked by axe-core --------------------------------
AXE_PAGES = ("/", "/documents", "/documents/P-01", "/documents/P-01/history", "/search?q=audytów", "/reviews")


@pytest.fixture
def polish_server(tmp_path, clock, monkeypatch):
    _need_browser()
    instance = make_instance(tmp_path / "inst", clock)
    people = {k: instance.users.get(k) for k in ("author", "approver", "qm")}
    release(instance, people)
    release(instance, people, text=DOC + "\n## 3. Audyty\nAudity wewnętrzne raz w roku.\n", reason="Audyty")
    monkeypatch.setenv("DOCCTL_LANGUAGE", "pl")  # the server's default, as for a new instance
    proc, base, log = _serve(tmp_path / "inst", tmp_path / "server.log")
    yield base
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def _serious(page) -> list[str]:
    """axe-core's serious and critical findings on the page (rule id and how many nodes)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({len(v['nodes'])})"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def test_polish_on_a_phone_with_no_serious_accessibility_findings(polish_server, tmp_path):
    pytest.importorskip("axe_playwright_python", reason="axe-core comes with axe-playwright-python")
    base = polish_server
    findings = {}
    with _browser_page() as page:
        for width in (1280, 390, 360):
            page.set_viewport_size({"width": width, "height": 900})
            page.context.clear_cookies()
            page.goto(base + "/login")
            assert page.get_attribute("html", "lang") == "pl" and "Zaloguj" in page.inner_text("main")
            page.fill("#login", "reader")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            for path in AXE_PAGES:
                page.goto(base + path)
                name = path.strip("/").replace("/", "-").replace("?q=", "-") or "home"
                page.screenshot(path=str(tmp_path / f"{width}-{name}.png"), full_page=True)
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{path} runs {overflow}px off the right edge at {width}px"
                findings[f"{width} {path}"] = _serious(page)
            page.goto(base + "/documents/P-01")
            header = page.inner_text("table.control-header")
            assert all(word in header for word in ("Opracował", "Sprawdził", "Zatwierdził", "Obowiązuje od"))
            box = page.locator("#nav-q").bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, "the search box is cut"
            page.fill("#nav-q", "audytow")  # inflected, without diacritics; the text says "Audity"
            page.press("#nav-q", "Enter")
            assert "P-01" in page.inner_text("ol.results")
    print("\naxe-core serious/critical findings per page:", findings)
    assert not any(findings.values()), findings


def _keep_screenshot(page, tmp_path: Path, name: str) -> None:
    """Into the test's folder; also into DOCCTL_SCREENSHOTS when set (the README's pictures are
    made so: `DOCCTL_SCREENSHOTS=tests/screenshots pytest -m browser -k polish`)."""
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    keep = os.environ.get("DOCCTL_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(keep) / f"{name}.png"), full_page=name.startswith("phone") is False)


def test_polish_path_draft_sign_find_read_confirm_print(polish_server, tmp_path):
    """The whole path in Polish: an author drafts a revision in the editor, the approver and the
    quality manager sign with their passwords, an employee finds it by an inflected word typed
    without Polish letters, reads it, confirms, prints it and opens the old revision."""
    base = polish_server
    with _browser_page() as page:
        page.set_viewport_size({"width": 1280, "height": 900})
        _login(page, base, "author")
        _keep_screenshot(page, tmp_path, "home")
        page.goto(base + "/documents/P-01")
        page.click("text=Nowe wydanie")
        text = page.input_value("#markdown") + "\n## 4. Kontrola\nKontrolę zarządczą przeprowadza sekretarz.\n"
        page.fill("#markdown", text)
        page.fill("#reason", "Dodano kontrolę zarządczą")
        page.click("text=Utwórz zmianę jako projekt")
        assert "utworzona jako projekt" in page.inner_text("main")
        page.click("text=Przekaż do sprawdzenia")
        assert "Przekazano do sprawdzenia" in page.inner_text("main")
        _keep_screenshot(page, tmp_path, "change")
        for signer in ("approver", "qm"):
            _login(page, base, signer)
            page.click('main a[href^="/changes/"]')  # the change waiting for this signature
            page.fill("#sign-password", PASSWORD)
            page.click("form[action$='/approve'] button")
        assert "Wydano." in page.inner_text("main")
        _login(page, base, "reader")
        page.fill("#nav-q", "kontroli zarzadczej")  # inflected, no Polish letters: the text says "Kontrolę zarządczą"
        page.press("#nav-q", "Enter")
        _keep_screenshot(page, tmp_path, "search")
        page.click("ol.results >> text=P-01")
        main = page.inner_text("main")
        assert "Kontrolę zarządczą przeprowadza sekretarz." in main and "ZASTĄPIONE" not in main
        page.click("text=Zapoznałem(-am) się z wydaniem 3 i je rozumiem")
        assert "Potwierdziłeś(-aś) zapoznanie z wydaniem 3." in page.inner_text("main")
        _keep_screenshot(page, tmp_path, "document")
        page.click("main >> text=Historia")
        _keep_screenshot(page, tmp_path, "history")
        page.click("text=Pokaż różnice")
        _keep_screenshot(page, tmp_path, "diff")
        page.goto(base + "/documents/P-01/print")
        assert "kopia nienadzorowana" in page.inner_text("body")
        _keep_screenshot(page, tmp_path, "print")
        page.goto(base + "/documents/P-01/revisions/1")
        assert "ZASTĄPIONE — to nie jest aktualne wydanie." in page.inner_text("main")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base + "/documents/P-01")
        _keep_screenshot(page, tmp_path, "phone-document")


def test_text_typed_when_the_session_expired_is_offered_back(editing_server, tmp_path):
    instance, base, numbers = editing_server
    number = numbers["draft"]
    with _browser_page() as page:
        _login(page, base, "author")
        page.goto(f"{base}/changes/{number}/edit")
        typed = page.input_value("#markdown") + "\nAkapit wpisany, gdy sesja wygasła.\n"
        page.fill("#markdown", typed)
        page.context.clear_cookies()  # the session ends while the author types
        page.click("button[value=save]")
        assert "Log in again" in page.inner_text("main")
        assert "Akapit wpisany" not in instance.workflow.content(instance.workflow.get(number))
        _login(page, base, "author")
        page.goto(f"{base}/changes/{number}/edit")
        assert "kept a text you typed here" in page.inner_text("main")
        page.click("text=Restore it")
        assert page.input_value("#markdown") == typed
        page.click("button[value=save]")
        assert "Draft saved." in page.inner_text("main")
        page.goto(f"{base}/changes/{number}/edit")
        assert "kept a text you typed here" not in page.inner_text("main")  # the server has it now
    assert "Akapit wpisany, gdy sesja wygasła." in instance.workflow.content(instance.workflow.get(number))


def test_the_toolbar_and_live_preview_change_one_line(editing_server, tmp_path):
    """Issue 32, item 3: a word made bold through the toolbar, seen in the live preview (the
    server's renderer) before saving, and the saved text differs from main by that one line."""
    instance, base, numbers = editing_server
    number = numbers["draft"]

    def preview_has(text: str) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if text in page.inner_html("#live-preview"):
                return True
            time.sleep(0.1)
        return False

    with _browser_page() as page:
        _login(page, base, "author")
        page.goto(f"{base}/changes/{number}/edit")
        assert page.is_visible("[role=toolbar]")
        assert preview_has("Nadzór")  # the preview is there before anything is typed
        area = page.locator("#markdown")
        at = page.input_value("#markdown").index("wszystkich komórek")
        area.focus()
        area.evaluate("(el, at) => el.setSelectionRange(at, at + 18)", at)
        page.click("[role=toolbar] button[data-md=bold]")
        assert preview_has("<strong>wszystkich komórek</strong>")
        _keep_screenshot(page, tmp_path, "editor")
        page.click("button[value=save]")
        assert "Draft saved." in page.inner_text("main")
    ref = f"refs/heads/changes/{number}"
    diff = _git(instance, "diff", "--unified=0", "main", ref, "--", "documents/P-01.md")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-Dotyczy wszystkich komórek urzędu.", "+Dotyczy **wszystkich komórek** urzędu."], diff
