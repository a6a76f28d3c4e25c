"""The evidence package (issue 30): built, unpacked, `sh check` passes with git, ssh-keygen and
sha256sum alone, and fails once any byte in it changes."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import zipfile
from datetime import timedelta

import pytest
from conftest import release

TOOLS = all(shutil.which(t) for t in ("git", "ssh-keygen", "sha256sum", "sh"))
needs_tools = pytest.mark.skipif(not TOOLS, reason="git, ssh-keygen, sha256sum and sh are needed to run `check`")


@pytest.fixture
def package(instance, people, clock, tmp_path):
    release(instance, people)
    instance.acks.record("reader", "P-01", 1)
    clock.advance(days=10)
    release(instance, people, doc_id="P-02", text="Drugi.\n", reason="Drugi")
    made = instance.evidence(tmp_path / "evidence.zip")
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(made.path) as archive:
        archive.extractall(folder)
        for info in archive.infolist():  # zip keeps the mode; extractall does not apply it
            (folder / info.filename).chmod(info.external_attr >> 16 & 0o777)
    return instance, made, folder / "evidence"


def run_check(folder):
    return subprocess.run(
        ["sh", str(folder / "check")], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=False
    )


@needs_tools
def test_the_package_checks_itself_with_stock_tools(package):
    instance, made, folder = package
    proc = run_check(folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: the package is intact" in proc.stdout
    register = list(csv.DictReader(io.StringIO((folder / "register.csv").read_text())))
    assert [r["id"] for r in register] == ["P-01", "P-02"]
    records = (folder / "change-records.csv").read_text()
    assert "Approver (approver, review" in records and "Wydanie pierwsze" in records
    confirmations = (folder / "confirmations.csv").read_text()
    assert ",P-01,1,reader,Reader,confirmed," in confirmations and ",P-01,1,author2," in confirmations
    assert "the history holds" in (folder / "verify.txt").read_text()
    assert "sh check" in (folder / "README.txt").read_text() and "Sprawdzenie" in (folder / "README.txt").read_text()
    assert made.main == instance.store.head("refs/heads/main")


@needs_tools
@pytest.mark.parametrize("name", ["register.csv", "allowed_signers", "history.bundle", "MANIFEST.sha256"])
def test_one_changed_byte_anywhere_fails_the_check(package, name):
    _, _, folder = package
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    assert run_check(folder).returncode != 0


@needs_tools
def test_a_package_as_of_an_earlier_day_holds_that_days_history(package, clock, tmp_path):
    instance, _, _ = package
    earlier = instance.evidence(tmp_path / "earlier.zip", as_of=(clock() - timedelta(days=5)).date())
    with zipfile.ZipFile(earlier.path) as archive:
        register = archive.read("evidence/register.csv").decode()
    assert "P-01" in register and "P-02" not in register
    assert earlier.main != instance.store.head("refs/heads/main")


def test_auditors_download_the_package_from_the_audit_page(instance, people, client, auth):
    release(instance, people)
    auth.login("auditor")
    assert "Download the evidence package" in client.get("/audit").get_data(as_text=True)
    answer = auth.post("/audit/evidence.zip", {"as_of": "", "unit": ""}, token_from="/audit")
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert "attachment" in answer.headers["Content-Disposition"]
    data = answer.get_data()
    answer.close()  # as a WSGI server does: the temporary file is closed and removed
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "evidence/check" in archive.namelist() and "evidence/history.bundle" in archive.namelist()
