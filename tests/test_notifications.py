"""E-mail notifications (issue 13) through a real SMTP conversation: an aiosmtpd server runs in
the test process and records who received what."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from click.testing import CliRunner
from conftest import DOC, PASSWORD, make_instance, release

from docctl.cli import main
from docctl.mail.delivery import deliver
from docctl.ops.instance import Instance
from docctl.stores.outbox import Message, Outbox, backoff

aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd (the test SMTP server) is not installed")


class Mailbox:
    """A real SMTP server on a free port; ``received`` holds (recipient, subject, body)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, str]] = []
        self.port = _free_port()
        self.controller = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = message_from_bytes(envelope.original_content)
        subject = str(make_header(decode_header(message["Subject"])))
        body = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
        for rcpt in envelope.rcpt_tos:
            self.received.append((rcpt, subject, body))
        return "250 OK"

    def start(self) -> None:
        self.controller = aiosmtpd.Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def to(self, email: str) -> list[tuple[str, str]]:
        return [(s, b) for r, s, b in self.received if r == email]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mailbox():
    box = Mailbox()
    box.start()
    yield box
    if box.controller is not None and box.controller._thread is not None:
        box.stop()


@pytest.fixture
def mailing(tmp_path, clock, mailbox):
    """An instance whose mail goes to the test server."""
    root = tmp_path / "instance"
    make_instance(root, clock)
    overrides = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": mailbox.port, "BASE_URL": "https://sznz.um.example.pl/"}
    instance = Instance(root, overrides=overrides, clock=clock)
    return instance, {p.login: p for p in instance.users.list()}


def test_one_release_cycle_as_received(mailing, mailbox, clock):
    instance, people = mailing
    wf = instance.workflow
    change = wf.create(
        people["author"],
        doc_id="P-01",
        markdown=DOC,
        reason="Wydanie pierwsze",
        title="Nadzór nad dokumentami",
        doc_type="procedure",
        unit="OR",
    )
    wf.submit(people["author"], change.number)
    deliver(instance, instance.outbox)
    signers = {r for r, s, _ in mailbox.received if s.startswith("Your signature is awaited")}
    assert signers == {"approver@um.example.pl", "qm@um.example.pl", "qm2@um.example.pl"}
    [(subject, body)] = mailbox.to("approver@um.example.pl")
    assert "P-01 Nadzór nad dokumentami (change 1)" in subject
    assert "https://sznz.um.example.pl/changes/1" in body and "Wydanie pierwsze" in body
    assert "https://sznz.um.example.pl/account/notifications" in body

    mailbox.received.clear()
    wf.approve(people["approver"], change.number, password=PASSWORD)
    wf.approve(people["qm"], change.number, password=PASSWORD)
    deliver(instance, instance.outbox)
    immediate = {(r, s) for r, s, _ in mailbox.received}
    assert ("author@um.example.pl", "P-01 released (change 1)") in immediate
    # Each signer is told at once of the signature made in their name (issue 29).
    assert ("approver@um.example.pl", "A signature was made in your name") in immediate
    assert ("qm@um.example.pl", "A signature was made in your name") in immediate
    digests = {r: b for r, s, b in mailbox.received if s.startswith("docctl: ")}
    # The readers of unit OR confirm the new revision: one digest each (defaults), not per event.
    assert set(digests) == {
        "author@um.example.pl",
        "author2@um.example.pl",
        "approver@um.example.pl",
        "qm2@um.example.pl",
    }
    assert "Please read P-01 revision 1: Nadzór nad dokumentami" in digests["author2@um.example.pl"]
    assert "https://sznz.um.example.pl/documents/P-01" in digests["author2@um.example.pl"]

    mailbox.received.clear()
    deliver(instance, instance.outbox)  # nothing twice
    assert mailbox.received == []
    assert instance.outbox.counts() == {"sent": 3 + 1 + 2 + 4}


def test_a_mail_server_outage_delays_but_loses_nothing(mailing, mailbox, clock):
    instance, people = mailing
    mailbox.stop()
    release(instance, people, "IR-01", "# Instrukcja\n\nTekst.\n", doc_type="instruction", signers=("approver",))
    first = deliver(instance, instance.outbox)
    assert first.errors and first.sent == 0
    pending = instance.outbox.messages(state="pending")
    assert pending and all(m.attempts <= 1 for m in pending)
    assert deliver(instance, instance.outbox).sent == 0  # backing off: not due yet, not tried again
    mailbox.start()
    clock.advance(minutes=5)
    second = deliver(instance, instance.outbox)
    assert not second.errors and second.sent >= 1
    received = [(r, s) for r, s, _ in mailbox.received]
    assert len(received) == len(set(received)), "a message was sent twice"
    assert ("author@um.example.pl", "IR-01 released (change 1)") in received
    assert instance.outbox.counts().get("pending", 0) == 0


def test_backoff_grows_and_is_capped():
    assert [backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(30).total_seconds() == 6 * 3600


def test_two_senders_never_claim_the_same_message(tmp_path, clock):
    first, second = Outbox(tmp_path / "o.sqlite3", clock=clock), Outbox(tmp_path / "o.sqlite3", clock=clock)
    second.worker = "other-node:1"
    first.add(Message(f"k{i}", "x", "x@example.invalid", "signature_awaited", "s", "b") for i in range(300))
    claimed: dict[str, list[int]] = {}

    def take(box):
        got = []
        while batch := box.claim_immediate(limit=7):
            got += [m.id for m in batch]
        claimed[box.worker] = got

    threads = [threading.Thread(target=take, args=(b,)) for b in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = claimed.values()
    assert not set(a) & set(b) and len(a) + len(b) == 300


def test_preferences_decide_what_is_sent_and_when(mailing, mailbox, auth_for):
    instance, people = mailing
    instance.outbox.set_preferences("approver", {"signature_awaited": "none"})
    instance.outbox.set_preferences("qm", {"signature_awaited": "digest"})
    change = instance.workflow.create(
        people["author"], doc_id="P-01", markdown=DOC, reason="r", title="T", doc_type="procedure", unit="OR"
    )
    instance.workflow.submit(people["author"], change.number)
    assert not [m for m in instance.outbox.messages() if m.login == "approver"]
    [queued] = [m for m in instance.outbox.messages() if m.login == "qm"]
    assert queued.mode == "digest"

    client, auth = auth_for(instance, "reader")
    page = client.get("/account/notifications").get_data(as_text=True)
    assert 'name="review_due" value="digest" checked' in page
    form = {
        k: "none"
        for k in (
            "signature_awaited",
            "change_rejected",
            "change_released",
            "change_cancelled",
            "confirmation_needed",
            "review_due",
            "copy_to_withdraw",
        )
    }
    assert auth.post("/account/notifications", form, token_from="/account/notifications").status_code == 303
    assert set(instance.outbox.preferences("reader", {"review_due": "digest"}).values()) == {"none"}
    refused = auth.post("/account/notifications", dict(form, review_due="hourly"), token_from="/account/notifications")
    assert refused.status_code == 422


def test_texts_in_the_readers_language_and_rejections_to_the_author(mailing, mailbox):
    instance, people = mailing
    instance.users.set_language("author", "pl")
    wf = instance.workflow
    change = wf.create(
        people["author"], doc_id="P-01", markdown=DOC, reason="r", title="T", doc_type="procedure", unit="OR"
    )
    wf.submit(people["author"], change.number)
    wf.reject(people["qm"], change.number, password=PASSWORD, comment="Brak zakresu")
    deliver(instance, instance.outbox)
    [(subject, body)] = mailbox.to("author@um.example.pl")
    assert subject == "Zmiana 1 dokumentu P-01 została odrzucona"
    assert "Brak zakresu" in body and "https://sznz.um.example.pl/changes/1" in body


def test_daily_look_tells_approvers_of_reviews_due_and_managers_of_copies(mailing, mailbox, clock):
    instance, people = mailing
    release(instance, people, "P-01")
    instance.copies.issue(people["qm"], "P-01", holder_unit="FN", units=instance.workflow.policy().units)
    release(instance, people, "P-01", DOC + "\nZmiana.\n", reason="Druga")
    clock.advance(days=365)  # a year on: the periodic review (12 months) is due
    deliver(instance, instance.outbox)
    subjects = {(r, s) for r, s, _ in mailbox.received}
    digest_to_approver = [b for r, s, b in mailbox.received if r == "approver@um.example.pl"]
    assert any("Periodic review of P-01" in b for b in digest_to_approver), subjects
    to_qm = " ".join(b for r, s, b in mailbox.received if r == "qm@um.example.pl")
    assert "Controlled copy 1 of P-01 must be withdrawn" in to_qm
    from docctl.mail.notifications import Notifier

    other_worker = Outbox(instance.outbox.path, clock=clock)
    other_worker.worker = "another-process:2"
    assert Notifier(instance, other_worker).daily() == 0  # one look a day, whichever worker comes first
    before = len(mailbox.received)
    clock.advance(days=1)
    deliver(instance, instance.outbox)  # the same reviews and copies are not told twice
    assert len(mailbox.received) == before


def test_notify_command_without_a_mail_server_keeps_the_outbox(instance, people):
    release(instance, people, "P-01")
    result = CliRunner().invoke(main, ["--instance", str(instance.root), "notify"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "SMTP_HOST is not set" in result.output and "pending" in result.output


@pytest.fixture
def auth_for():
    from conftest import Auth

    from docctl.web import build_app

    def make(instance, login):
        client = build_app(instance, {"TESTING": True}).test_client()
        auth = Auth(client)
        auth.login(login)
        return client, auth

    return make


def test_days_are_written_as_people_write_them():
    from datetime import date

    from docctl.mail.notifications import Text

    text = Text("In force from %(day)s", "%(link)s", {"day": date(2026, 3, 2)})
    assert text.written("en", "", "/x")[0] == "In force from 2026-03-02"
    subject, body = text.written("pl", "https://sznz.example/", "/documents/P-01")
    assert "2 marca 2026" in subject and body.startswith("https://sznz.example/documents/P-01")


def test_a_refused_address_is_marked_failed_shown_to_admins_and_retried_on_request(mailing, mailbox, auth_for):
    instance, people = mailing
    instance.users.update("approver", email="nobody@um.example.pl")
    change = instance.workflow.create(
        people["author"], doc_id="P-01", markdown=DOC, reason="r", title="T", doc_type="procedure", unit="OR"
    )
    instance.workflow.submit(people["author"], change.number)
    result = deliver(instance, instance.outbox)
    assert result.failed == 1 and not result.errors  # one refused address does not stop the others
    assert {r for r, _, _ in mailbox.received} == {"qm@um.example.pl", "qm2@um.example.pl"}
    [failed] = instance.outbox.messages(state="failed")
    assert failed.email == "nobody@um.example.pl" and "550" in failed.last_error
    assert deliver(instance, instance.outbox).sent == 0  # not retried by itself

    client, auth = auth_for(instance, "admin")
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "nobody@um.example.pl" in page and "no such mailbox" in page
    assert auth.post("/admin/outbox", {}, token_from="/admin/outbox").status_code == 303
    assert instance.outbox.messages(state="pending")[0].id == failed.id
