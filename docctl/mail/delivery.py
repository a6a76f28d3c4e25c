"""Sending the outbox through SMTP (issue 13): ``docctl notify`` and ``docctl serve``'s schedule.

Settings (CONTRACT §5): ``SMTP_HOST`` (unset: nothing is sent, messages wait in the outbox),
``SMTP_PORT``, ``SMTP_TLS`` (``none``, ``starttls``, ``tls``), ``SMTP_USER``, ``SMTP_PASSWORD``,
``MAIL_FROM``. A message leaves the outbox only when the server has accepted it; a connection
that fails puts everything claimed back for later (with back-off); a recipient the server
refuses outright is marked failed and shown to admins, not retried forever.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

from ..stores.outbox import Message, Outbox
from ..translations import N_, catalog
from .notifications import Notifier

log = logging.getLogger("docctl.mail")
TLS_MODES = ("none", "starttls", "tls")


@dataclass
class Delivery:
    """What one run did."""

    queued: int = 0
    sent: int = 0
    digests: int = 0
    retry: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class SmtpSender:
    """One SMTP connection per run, opened on the first message."""

    def __init__(self, settings: dict) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            mode = str(s["SMTP_TLS"]).lower()
            if mode not in TLS_MODES:
                raise smtplib.SMTPException(f"SMTP_TLS must be one of {', '.join(TLS_MODES)}, not {mode!r}")
            port = int(s["SMTP_PORT"]) or (465 if mode == "tls" else 587 if mode == "starttls" else 25)
            if mode == "tls":
                smtp = smtplib.SMTP_SSL(s["SMTP_HOST"], port, timeout=30, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s["SMTP_HOST"], port, timeout=30)
                if mode == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s["SMTP_USER"]:
                smtp.login(s["SMTP_USER"], s["SMTP_PASSWORD"])
            self._smtp = smtp
        return self._smtp

    def send(self, to: str, subject: str, body: str, when: datetime) -> str:
        message = EmailMessage()
        message["From"] = self.settings["MAIL_FROM"]
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(when)
        message["Message-ID"] = make_msgid(domain=self.settings["MAIL_FROM"].rpartition("@")[2].strip(">") or None)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to these
        message.set_content(body)
        self._connect().send_message(message)
        return message["Message-ID"]


def deliver(instance, outbox: Outbox, *, daily: bool = True) -> Delivery:
    """Queue what the daily look finds, then send what is due: immediate messages, and each
    person's digest once a day after ``DIGEST_HOUR``."""
    result = Delivery()
    if daily:
        result.queued = Notifier(instance, outbox).daily()
    settings = instance.settings
    if not settings["SMTP_HOST"]:
        return result  # no mail server configured: everything waits in the outbox
    now = instance.clock()
    with SmtpSender(settings) as sender:
        try:
            _send_immediate(sender, outbox, now, result)
            local = now.astimezone(ZoneInfo(settings["TIMEZONE"]))
            if local.hour >= int(settings["DIGEST_HOUR"]):
                _send_digests(instance, sender, outbox, now, local.date().isoformat(), result)
        except (_ServerDown, smtplib.SMTPException, OSError) as exc:
            result.errors.append(str(exc))
            log.warning("mail server unavailable, messages stay in the outbox: %s", exc)
    return result


class _ServerDown(Exception):
    """The mail server failed: stop this run, everything claimed is back in the queue."""


def _send_immediate(sender: SmtpSender, outbox: Outbox, now: datetime, result: Delivery) -> None:
    while batch := outbox.claim_immediate():
        for index, message in enumerate(batch):
            try:
                _send(sender, outbox, [message], message.email, message.subject, message.body, now, result)
            except _ServerDown:
                outbox.failed(batch[index + 1 :], "not tried: the mail server failed on an earlier message")
                raise
            result.sent += 1


def _send_digests(instance, sender: SmtpSender, outbox: Outbox, now: datetime, day: str, result: Delivery) -> None:
    people = {p.login: p for p in instance.users.list()}
    for login in outbox.digest_logins():
        batch = outbox.claim_digest(login, day)
        if not batch:
            continue
        person = people.get(login)
        language = (getattr(person, "language", None) if person else None) or instance.settings["LANGUAGE"]
        translate = catalog(language).ugettext
        subject = translate(N_("docctl: %(n)s notification(s) for today")) % {"n": len(batch)}
        parts = [f"• {m.subject}\n\n{m.body.split(chr(10) + '-- ' + chr(10))[0].strip()}" for m in batch]
        footer = batch[-1].body.split("\n-- \n", 1)[-1] if "\n-- \n" in batch[-1].body else ""
        body = "\n\n".join(parts) + (f"\n\n-- \n{footer}" if footer else "\n")
        _send(sender, outbox, batch, batch[0].email, subject, body, now, result, digest_day=day)
        result.digests += 1


def _send(sender, outbox, messages: list[Message], to, subject, body, now, result, *, digest_day=None) -> None:
    """Sent and marked so; a refused recipient marked failed; a failing server: back in the
    queue for later, and _ServerDown."""
    try:
        message_id = sender.send(to, subject, body, now)
    except smtplib.SMTPRecipientsRefused as exc:
        outbox.failed(messages, f"recipient refused: {exc.recipients}", permanent=True)
        result.failed += len(messages)
        return
    except (smtplib.SMTPException, OSError) as exc:
        outbox.failed(messages, f"{type(exc).__name__}: {exc}")
        result.retry += len(messages)
        raise _ServerDown(f"{type(exc).__name__}: {exc}") from exc
    outbox.sent(messages, message_id, digest_day=digest_day)
