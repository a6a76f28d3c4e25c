"""Who is told what by e-mail (issue 13): the messages, written in each person's language.

Two sources:
- **steps of a change** (a workflow listener, right after the step is in git): submitted → the
  people who can give a missing signature; rejected, cancelled, released → its author; released →
  the readers who must confirm the new revision (people of the owning unit; everyone for a
  policy);
- **a daily look** (``docctl notify``, or ``docctl serve`` on a schedule): periodic reviews due
  within ``REVIEW_DUE_SOON_DAYS`` or overdue → the approvers who may record them; controlled copies
  of revisions no longer in force → those who manage the copies of that unit.

Each message has a key naming its event and its reader, so noticing an event twice queues it
once. Texts are marked with ``N_`` and translated here (no Flask: the CLI sends them too).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from babel.dates import format_date

from ..audit.copies import may_manage_copies
from ..audit.readership import in_audience
from ..audit.reviews import due_by_kind, review_scope, reviews_due
from ..core import signing
from ..core.changes import Change
from ..core.errors import DocctlError
from ..stores import database
from ..stores.outbox import Message, Outbox
from ..translations import N_, catalog


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # what the preferences page says
    default: str  # immediate | digest | none


KINDS = (
    Kind("signature_awaited", N_("A change waits for my signature"), "immediate"),
    Kind("change_rejected", N_("My change was rejected"), "immediate"),
    Kind("change_released", N_("My change was released"), "immediate"),
    Kind("change_cancelled", N_("My change was cancelled"), "immediate"),
    Kind("confirmation_needed", N_("A new revision needs my read confirmation"), "digest"),
    Kind("review_due", N_("A periodic review is due or overdue"), "digest"),
    Kind("copy_to_withdraw", N_("A controlled copy must be withdrawn"), "digest"),
)
DEFAULTS = {k.name: k.default for k in KINDS}
# Not a preference: the notice of a signature made in one's name always goes out at once.
_ALWAYS_NOW = {"signature_made": "immediate"}
_RESET_NOW = {"password_reset": "immediate"}
# Steps that end a round of a change, told to its author: kind, subject, body.
_TOLD_TO_THE_AUTHOR = {
    "reject": (
        "change_rejected",
        N_("Change %(n)s of %(doc)s was rejected"),
        N_("%(actor)s rejected change %(n)s of %(doc)s “%(title)s”.\nComment: %(comment)s\n\n%(link)s"),
    ),
    "cancel": (
        "change_cancelled",
        N_("Change %(n)s of %(doc)s was cancelled"),
        N_("%(actor)s cancelled change %(n)s of %(doc)s “%(title)s”.\nComment: %(comment)s\n\n%(link)s"),
    ),
}


@dataclass(frozen=True)
class Text:
    """A message before translation: English templates and the values to fill in."""

    subject: str
    body: str
    params: dict

    def written(self, language: str, base_url: str, path: str) -> tuple[str, str]:
        translate = catalog(language).ugettext
        params = {k: _day(v, language) if isinstance(v, date) else v for k, v in self.params.items()}
        params["link"] = _link(base_url, path)
        subject = translate(self.subject) % params
        body = translate(self.body) % params
        footer = translate(N_("You can choose which e-mails you receive, at once or once a day: %(prefs)s"))
        return subject, f"{body}\n\n-- \n{footer % {'prefs': _link(base_url, '/account/notifications')}}\n"


def _day(value: date, language: str) -> str:
    """As the pages write a day: "2 marca 2026" in Polish, ISO in English."""
    return value.isoformat() if language == "en" else format_date(value, "long", locale=language)


def _link(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}{path}" if base_url else path


class Notifier:
    """Turns workflow steps and the daily look into queued messages."""

    def __init__(self, instance, outbox: Outbox) -> None:
        self.instance = instance
        self.outbox = outbox

    # -- building messages -------------------------------------------------------------------
    def _queue(self, kind: str, key: str, people: Iterable, text: Text, path: str, modes: dict | None = None) -> int:
        """``modes``: people's choices already read (the daily look asks for the same people
        thousands of times on a large register)."""
        settings = self.instance.settings
        modes = {} if modes is None else modes
        messages = []
        for person in people:
            if not getattr(person, "active", True) or not person.email:
                continue
            if person.login not in modes:
                modes[person.login] = self.outbox.preferences(person.login, DEFAULTS)
            mode = modes[person.login][kind]
            if mode == "none":
                continue
            language = getattr(person, "language", None) or settings["LANGUAGE"]
            subject, body = text.written(language, settings["BASE_URL"], path)
            messages.append(Message(f"{key}:{person.login}", person.login, person.email, kind, subject, body, mode))
        return self.outbox.add(messages)

    # -- signatures (issue 29) ----------------------------------------------------------------
    def on_signature(self, person, commit: str, what: str) -> None:
        """Workflow listener: every signature made with a person's own key is told to that
        person at once, whatever their preferences: a signature they did not make shows."""
        try:
            text = Text(
                N_("A signature was made in your name"),
                N_(
                    "Your electronic signature was recorded: %(what)s (commit %(commit)s).\n"
                    "If you did not sign this, tell the quality manager at once.\n%(link)s"
                ),
                {"what": what, "commit": commit[:12]},
            )
            self._queue("signature_made", f"signed:{commit}", [person], text, "/", {person.login: _ALWAYS_NOW})
        except (DocctlError, *database.DatabaseError):
            logging.getLogger("docctl.mail").exception("the notice of signature %s not queued", commit)

    def temporary_password(self, person, password: str) -> None:
        """An administrator's reset: the temporary password goes to the person's own e-mail only."""
        text = Text(
            N_("Your docctl password was reset"),
            N_(
                "An administrator reset your password. Your temporary password: %(password)s\n"
                "Log in with it and choose your own; you can sign again only after that.\n%(link)s"
            ),
            {"password": password},
        )
        key = f"reset:{person.login}:{secrets.token_hex(8)}"
        self._queue("password_reset", key, [person], text, "/account/password", {person.login: _RESET_NOW})

    # -- steps of a change -------------------------------------------------------------------
    def on_change(self, change: Change) -> None:
        """Workflow listener: what the step just recorded means for whom. The step is in git
        already: a failure here is logged, never turned into a failed step."""
        if not change.events:
            return
        try:
            self._on_change(change)
        except (DocctlError, *database.DatabaseError):
            logging.getLogger("docctl.mail").exception("notifications for change %s not queued", change.number)

    def _on_change(self, change: Change) -> None:
        last = change.events[-1]
        values = {
            "n": change.number,
            "doc": change.doc_id,
            "title": change.title,
            "reason": change.reason,
            "actor": last.actor_name,
            "comment": last.comment or "—",
        }
        path = f"/changes/{change.number}"
        author = self._people([change.author_login])
        if last.action == "submit":
            self._signature_awaited(change, values, last.commit)
        elif last.action in _TOLD_TO_THE_AUTHOR:
            kind, subject, body = _TOLD_TO_THE_AUTHOR[last.action]
            key = f"{kind}:{change.number}:{last.commit}"
            self._queue(kind, key, author, Text(subject, body, values), path)
        elif last.action == "release":
            self._released(change, values, author)

    def _signature_awaited(self, change: Change, values: dict, submitted: str) -> None:
        scope = self.instance.workflow.scope_of(change.number)
        if scope is None:
            return
        _, doc_type, unit = scope
        policy = self.instance.workflow.policy()
        needed = signing.eligible_signers(policy, doc_type, unit, change, self.instance.users.list())
        people = {p.login: p for _, who in needed for p in who}
        text = Text(
            N_("Your signature is awaited: %(doc)s %(title)s (change %(n)s)"),
            N_(
                "%(actor)s submitted change %(n)s of %(doc)s “%(title)s” for review.\nReason: %(reason)s\n\n"
                "Your signature is needed: read the change and sign or reject it.\n%(link)s"
            ),
            values,
        )
        self._queue(
            "signature_awaited", f"sign:{change.number}:{submitted}", people.values(), text, f"/changes/{change.number}"
        )

    def _released(self, change: Change, values: dict, author) -> None:
        withdrawn = change.kind == "withdraw"
        subject = N_("%(doc)s was withdrawn (change %(n)s)") if withdrawn else N_("%(doc)s released (change %(n)s)")
        text = Text(
            subject,
            N_("Change %(n)s of %(doc)s “%(title)s” has all its signatures and is recorded.\n\n%(link)s"),
            values,
        )
        doc_path = f"/documents/{change.doc_id}"
        self._queue("change_released", f"released:{change.number}", author, text, doc_path)
        if withdrawn:
            return
        try:
            revision = self.instance.catalog.revisions(change.doc_id)[0]
        except DocctlError:  # the catalog catches up later; the author was told
            return
        readers = [p for p in self.instance.users.list() if in_audience(p, revision.type, revision.unit)]
        text = Text(
            N_("Please read %(doc)s revision %(rev)s: %(title)s"),
            N_(
                "A new revision of %(doc)s “%(title)s” is released: revision %(rev)s, in force from %(day)s.\n"
                "Reason for the change: %(reason)s\n\nRead it and confirm that you have read it:\n%(link)s"
            ),
            {**values, "rev": revision.revision, "day": revision.effective_date},
        )
        key = f"confirm:{change.doc_id}:{revision.revision}"
        self._queue("confirmation_needed", key, readers, text, doc_path)

    # -- the daily look ----------------------------------------------------------------------
    def daily(self) -> int:
        """Queue what is due today: reviews due or overdue, copies to withdraw (each once)."""
        today = self.instance.today()
        if not self.outbox.claim_daily_look(today.isoformat()):
            return 0  # another run (or worker) looked today
        queued = 0
        modes: dict[str, dict] = {}
        people = [p for p in self.instance.users.list() if p.active]
        soon = int(self.instance.settings["REVIEW_DUE_SOON_DAYS"])
        register = self.instance.catalog.master_list(today, include_obsolete=True)
        due = due_by_kind(register, today, soon)
        policy = self.instance.workflow.policy()
        for person in people:
            if "approver" not in person.roles:
                continue
            for state in reviews_due(due, review_scope(due, policy, person)):
                rev = state.current or state.shown
                overdue = state.review_due < today
                text = Text(
                    N_("Periodic review of %(doc)s overdue since %(day)s")
                    if overdue
                    else N_("Periodic review of %(doc)s due on %(day)s"),
                    N_(
                        "%(doc)s “%(title)s” (revision %(rev)s) is due for its periodic review on %(day)s.\n"
                        "Record the review, or open a revision if it needs changing:\n%(link)s"
                    ),
                    {"doc": state.doc_id, "title": rev.title, "rev": rev.revision, "day": state.review_due},
                )
                key = f"review:{state.doc_id}:{rev.revision}:{state.review_due.isoformat()}"
                queued += self._queue("review_due", key, [person], text, f"/documents/{state.doc_id}", modes)
        for copy, why in self.instance.copies.to_withdraw(today):
            unit = self.instance.catalog.document(copy.doc_id, today).shown.unit
            managers = [p for p in people if may_manage_copies(p, unit)]
            text = Text(
                N_("Controlled copy %(copy)s of %(doc)s must be withdrawn"),
                N_(
                    "Controlled copy no. %(copy)s of %(doc)s (revision %(rev)s), held by %(holder)s, is no longer "
                    "valid (%(why)s). Collect it and mark it returned:\n%(link)s"
                ),
                {"copy": copy.number, "doc": copy.doc_id, "rev": copy.revision, "holder": copy.holder, "why": why},
            )
            key = f"copy:{copy.doc_id}:{copy.number}:{copy.revision}"
            path = f"/documents/{copy.doc_id}/copies"
            queued += self._queue("copy_to_withdraw", key, managers, text, path, modes)
        return queued

    def _people(self, logins: Iterable[str]) -> list:
        wanted = set(logins)
        return [p for p in self.instance.users.list() if p.login in wanted]
