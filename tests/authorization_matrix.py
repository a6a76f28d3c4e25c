"""The authorization matrix (issue 15): every route of the app × every kind of person.

One row per (method, URL rule) of the app's URL map — ``test_authorization.py`` fails when a
route has no row — with one or more concrete requests and, for each persona, what it gets:
``ok`` (the request passed authorization: 2xx, 3xx other than to the login page, or a 409/422 about
the request itself), or the refusal ``401`` (not logged in; pages redirect to the login form),
``403`` (logged in, not allowed) or ``404`` (not allowed to know it exists: drafts of others).

The README's table is rendered from this module (``markdown_table``) and checked by a test.

The fixture (``tests/test_authorization.py``): P-01 (a procedure of unit OR) released twice;
change ``{draft}`` — a revision of P-01 by ``author``, in draft; change ``{review}`` — a new
instruction IR-01 of unit OR by ``author``, in review (it needs an approver of OR); controlled
copy 1 of P-01, held by unit FN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PERSONAS = ("anonymous", "reader", "author", "approver", "approver_fn", "qm", "auditor", "admin")
PERSONA_HELP = {
    "anonymous": "not logged in",
    "reader": "role reader",
    "author": "author of unit OR, who prepared both changes",
    "approver": "approver of unit OR (the owning unit)",
    "approver_fn": "approver of another unit (FN)",
    "qm": "quality_manager",
    "auditor": "auditor",
    "admin": "admin",
}
LOGGED_IN = PERSONAS[1:]
ANYONE = PERSONAS


@dataclass(frozen=True)
class Case:
    path: str  # may use {draft}, {review}
    body: dict | None = None  # form fields (pages) or JSON (API); password fields filled per persona
    note: str = ""


@dataclass(frozen=True)
class Row:
    method: str
    rule: str
    cases: tuple[Case, ...]
    ok: tuple[str, ...]
    hidden: tuple[str, ...] = ()  # get 404
    refused: int = 403  # what the other logged-in personas get
    anonymous: int = 401
    note: str = ""
    expected: dict = field(init=False, compare=False, hash=False)

    def __post_init__(self):
        table = {}
        for persona in PERSONAS:
            if persona in self.ok:
                table[persona] = "ok"
            elif persona == "anonymous":
                table[persona] = str(self.anonymous)
            elif persona in self.hidden:
                table[persona] = "404"
            else:
                table[persona] = str(self.refused)
        object.__setattr__(self, "expected", table)


def _row(method, rule, cases, ok, **kw) -> Row:
    cases = tuple(c if isinstance(c, Case) else Case(c) for c in (cases if isinstance(cases, list) else [cases]))
    return Row(method, rule, cases, tuple(ok), **kw)


AUDIT = ("qm", "auditor", "admin")
REPORTS = ("approver", "qm", "auditor", "admin")
ISSUERS = ("approver", "qm")
AUTHORS = ("author", "qm")
SEES_DRAFTS = ("author", "approver", "qm", "auditor", "admin")
NOT_SEEING = ("reader", "approver_fn")
PASSWORD_CHANGE = {"old_password": "*", "new_password": "Another-long-password-9", "confirm": "Another-long-password-9"}
NEW_PERSON = {"login": "nowy", "name": "Nowy", "email": "nowy@um.example.pl", "roles": ["reader"], "units": []}
NEW_PERSON["password"] = "Temporary-pass-42"
NEW_PERSON["admin_password"] = "*"
RIGHTS = {"roles": ["reader", "author"], "units": ["OR"], "admin_password": "*"}
EDIT = {"markdown": "# Nadzór\n\nZmieniony tekst.\n", "head": "{draft_head}"}
NEW_CHANGE = {"document_id": "P-01", "markdown": "# Nadzór\n\nNowy tekst.\n", "reason": "Zmiana"}

ROWS: tuple[Row, ...] = (
    # -- public -------------------------------------------------------------------------------
    _row("GET", "/login", "/login", ANYONE),
    _row("POST", "/login", Case("/login", {"login": "reader", "password": "*"}), ANYONE),
    _row("GET", "/logout", "/logout", ANYONE),
    _row("POST", "/logout", Case("/logout", {}), ANYONE),
    _row("GET", "/healthz", "/healthz", ANYONE),
    _row("GET", "/metrics", "/metrics", ANYONE),
    _row("GET", "/static/<path:filename>", "/static/docctl.css", ANYONE),
    _row("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", ANYONE),
    _row("POST", "/language", Case("/language", {"language": "pl", "next": "/"}), ANYONE),
    # -- everyone logged in ---------------------------------------------------------------------
    _row("GET", "/", "/", LOGGED_IN),
    _row("GET", "/account/password", "/account/password", LOGGED_IN),
    _row("POST", "/account/password", Case("/account/password", PASSWORD_CHANGE), LOGGED_IN),
    _row("GET", "/account/notifications", "/account/notifications", LOGGED_IN),
    _row(
        "POST",
        "/account/notifications",
        Case("/account/notifications", {"signature_awaited": "digest", "review_due": "none"}),
        LOGGED_IN,
        note="one's own choices only",
    ),
    _row("GET", "/documents", ["/documents", "/documents?as_of=2026-01-01"], LOGGED_IN),
    _row("GET", "/documents/<doc_id>", "/documents/P-01", LOGGED_IN),
    _row("GET", "/documents/<doc_id>/revisions/<number>", "/documents/P-01/revisions/1", LOGGED_IN),
    _row("GET", "/documents/<doc_id>/history", "/documents/P-01/history", LOGGED_IN),
    _row("GET", "/documents/<doc_id>/diff", "/documents/P-01/diff?from=1&to=2", LOGGED_IN),
    _row("GET", "/documents/<doc_id>/print", "/documents/P-01/print", LOGGED_IN),
    _row(
        "GET",
        "/documents/<doc_id>/figures/<name>",
        "/documents/IR-01/figures/{figure}",
        SEES_DRAFTS,
        hidden=NOT_SEEING,
        note="a figure of a draft: as private as its text; of a released revision: everyone logged in",
    ),
    _row("GET", "/documents/<doc_id>/revisions/<number>.pdf", "/documents/P-01/revisions/1.pdf", LOGGED_IN),
    _row("POST", "/documents/<doc_id>/acknowledge", Case("/documents/P-01/acknowledge", {}), LOGGED_IN),
    _row("GET", "/reviews", "/reviews", LOGGED_IN),
    _row("GET", "/search", ["/search?q=nadzór", "/search?q=nadzór&scope=drafts"], LOGGED_IN),
    _row("GET", "/changes", "/changes", LOGGED_IN, note="lists only the changes the person may see"),
    _row("GET", "/api/v1/documents", "/api/v1/documents", LOGGED_IN),
    _row("GET", "/api/v1/documents/<doc_id>", "/api/v1/documents/P-01", LOGGED_IN),
    _row("GET", "/api/v1/documents/<doc_id>/revisions", "/api/v1/documents/P-01/revisions", LOGGED_IN),
    _row("GET", "/api/v1/documents/<doc_id>/revisions/<number>", "/api/v1/documents/P-01/revisions/1", LOGGED_IN),
    _row("GET", "/api/v1/documents/<doc_id>/diff", "/api/v1/documents/P-01/diff?from=1&to=2", LOGGED_IN),
    _row("POST", "/api/v1/documents/<doc_id>/acknowledge", Case("/api/v1/documents/P-01/acknowledge", {}), LOGGED_IN),
    _row("GET", "/api/v1/reviews", "/api/v1/reviews", LOGGED_IN),
    _row("GET", "/api/v1/search", ["/api/v1/search?q=nadzór", "/api/v1/search?q=nadzór&scope=drafts"], LOGGED_IN),
    _row("GET", "/api/v1/changes", "/api/v1/changes", LOGGED_IN, note="lists only the changes the person may see"),
    # -- read confirmations: oversight, and approvers of the owning unit -------------------------
    _row("GET", "/acknowledgements", "/acknowledgements?unit=OR", REPORTS),
    _row("GET", "/documents/<doc_id>/acknowledgements", "/documents/P-01/acknowledgements", REPORTS),
    _row("GET", "/api/v1/documents/<doc_id>/acknowledgements", "/api/v1/documents/P-01/acknowledgements", REPORTS),
    # -- controlled copies: seen like read confirmations, issued by the unit's approvers and QMs --
    _row("GET", "/documents/<doc_id>/copies", "/documents/P-01/copies", REPORTS),
    _row("POST", "/documents/<doc_id>/copies", Case("/documents/P-01/copies", {"holder": "unit:FN"}), ISSUERS),
    _row(
        "POST",
        "/documents/<doc_id>/copies/<number>/returned",
        Case("/documents/P-01/copies/1/returned", {}),
        ISSUERS,
    ),
    _row("GET", "/documents/<doc_id>/copies/<number>/print", "/documents/P-01/copies/1/print", REPORTS),
    _row("GET", "/documents/<doc_id>/copies/<number>.pdf", "/documents/P-01/copies/1.pdf", REPORTS),
    _row("GET", "/copies", "/copies", ("approver", "approver_fn", "qm", "auditor", "admin")),
    # -- the audit trail -------------------------------------------------------------------------
    _row("GET", "/audit", "/audit", AUDIT),
    _row("GET", "/audit/events.csv", "/audit/events.csv", AUDIT),
    _row("POST", "/audit/evidence.zip", Case("/audit/evidence.zip", {}), AUDIT),
    _row("GET", "/api/v1/audit/events", "/api/v1/audit/events", AUDIT),
    _row("GET", "/api/v1/audit/verify", "/api/v1/audit/verify", AUDIT),
    # -- changes: drafts only for their circle (404 for others) ---------------------------------
    _row("GET", "/changes/new", "/changes/new", AUTHORS),
    _row("POST", "/changes/new", Case("/changes/new", NEW_CHANGE), AUTHORS),
    _row("POST", "/api/v1/changes", Case("/api/v1/changes", NEW_CHANGE), AUTHORS),
    _row("GET", "/changes/<number>", ["/changes/{draft}", "/changes/{review}"], SEES_DRAFTS, hidden=NOT_SEEING),
    _row(
        "GET",
        "/api/v1/changes/<number>",
        ["/api/v1/changes/{draft}", "/api/v1/changes/{review}"],
        SEES_DRAFTS,
        hidden=NOT_SEEING,
    ),
    _row("GET", "/admin/outbox", "/admin/outbox", ("admin",)),
    _row("POST", "/admin/outbox", Case("/admin/outbox", {}), ("admin",), note="send failed e-mail again"),
    _row("GET", "/documents/import", "/documents/import", ("qm",)),
    _row("POST", "/documents/import", Case("/documents/import", {"dry_run": "1"}), ("qm",), note="uploads"),
    _row("GET", "/changes/<number>/edit", "/changes/{draft}/edit", AUTHORS, hidden=NOT_SEEING),
    _row("POST", "/changes/<number>/edit", Case("/changes/{draft}/edit", EDIT), AUTHORS, hidden=NOT_SEEING),
    _row(
        "POST",
        "/changes/<number>/docx",
        Case("/changes/{draft}/docx", {"head": "{draft_head}"}),
        AUTHORS,
        hidden=NOT_SEEING,
    ),
    _row(
        "POST",
        "/changes/<number>/preview",
        Case("/changes/{draft}/preview", {"markdown": "# Podgląd"}),
        AUTHORS,
        hidden=NOT_SEEING,
        note="the editor's live preview",
    ),
    _row("PUT", "/api/v1/changes/<number>", Case("/api/v1/changes/{draft}", EDIT), AUTHORS, hidden=NOT_SEEING),
    _row(
        "GET",
        "/api/v1/changes/<number>/docx",
        ["/api/v1/changes/{draft}/docx", "/api/v1/changes/{review}/docx"],
        SEES_DRAFTS,
        hidden=NOT_SEEING,
    ),
    _row(
        "PUT",
        "/api/v1/changes/<number>/docx",
        Case("/api/v1/changes/{draft}/docx?head={draft_head}", {}, note="body: the .docx file"),
        AUTHORS,
        hidden=NOT_SEEING,
    ),
    _row("POST", "/changes/<number>/update", Case("/changes/{draft}/update", {}), AUTHORS, hidden=NOT_SEEING),
    _row("POST", "/changes/<number>/submit", Case("/changes/{draft}/submit", {}), AUTHORS, hidden=NOT_SEEING),
    _row(
        "POST",
        "/changes/<number>/cancel",
        Case("/changes/{draft}/cancel", {"comment": "x"}),
        ("author", "qm", "admin"),
        hidden=NOT_SEEING,
    ),
    _row(
        "POST",
        "/changes/<number>/approve",
        Case("/changes/{review}/approve", {"password": "*"}),
        ("approver",),
        hidden=NOT_SEEING,
        note="the instruction needs an approver of OR; its author never signs; an admin never signs",
    ),
    _row(
        "POST",
        "/changes/<number>/reject",
        Case("/changes/{review}/reject", {"password": "*", "comment": "no"}),
        ("approver", "qm"),
        hidden=NOT_SEEING,
    ),
    _row(
        "POST",
        "/api/v1/changes/<number>/submit",
        Case("/api/v1/changes/{draft}/submit", {}),
        AUTHORS,
        hidden=NOT_SEEING,
    ),
    _row(
        "POST",
        "/api/v1/changes/<number>/update",
        Case("/api/v1/changes/{draft}/update", {}),
        AUTHORS,
        hidden=NOT_SEEING,
    ),
    _row(
        "POST",
        "/api/v1/changes/<number>/cancel",
        Case("/api/v1/changes/{draft}/cancel", {"comment": "x"}),
        ("author", "qm", "admin"),
        hidden=NOT_SEEING,
    ),
    _row(
        "POST",
        "/api/v1/changes/<number>/approve",
        Case("/api/v1/changes/{review}/approve", {"password": "*"}),
        ("approver",),
        hidden=NOT_SEEING,
    ),
    _row(
        "POST",
        "/api/v1/changes/<number>/reject",
        Case("/api/v1/changes/{review}/reject", {"password": "*", "comment": "no"}),
        ("approver", "qm"),
        hidden=NOT_SEEING,
    ),
    # -- documents: review, withdrawal ---------------------------------------------------------
    _row("GET", "/documents/<doc_id>/review", "/documents/P-01/review", ("approver", "qm")),
    _row(
        "POST",
        "/documents/<doc_id>/review",
        Case("/documents/P-01/review", {"password": "*", "comment": "OK"}),
        ("approver", "qm"),
    ),
    _row(
        "POST",
        "/api/v1/documents/<doc_id>/review",
        Case("/api/v1/documents/P-01/review", {"password": "*", "comment": "OK"}),
        ("approver", "qm"),
    ),
    _row("GET", "/documents/<doc_id>/withdraw", "/documents/P-01/withdraw", AUTHORS),
    _row("POST", "/documents/<doc_id>/withdraw", Case("/documents/P-01/withdraw", {"reason": "Zbędny"}), AUTHORS),
    _row(
        "POST",
        "/api/v1/documents/<doc_id>/withdraw",
        Case("/api/v1/documents/P-01/withdraw", {"reason": "Zbędny"}),
        AUTHORS,
    ),
    # -- people ----------------------------------------------------------------------------------
    _row("GET", "/admin/users", "/admin/users", ("admin",)),
    _row("GET", "/admin/users/new", "/admin/users/new", ("admin",)),
    _row("POST", "/admin/users/new", Case("/admin/users/new", NEW_PERSON), ("admin",)),
    _row("GET", "/admin/users/<login>", "/admin/users/reader", ("admin",)),
    _row("POST", "/admin/users/<login>", Case("/admin/users/reader", RIGHTS), ("admin",)),
    _row("POST", "/admin/users/<login>/deactivate", Case("/admin/users/reader/deactivate", RIGHTS), ("admin",)),
    _row("POST", "/admin/users/<login>/activate", Case("/admin/users/reader/activate", RIGHTS), ("admin",)),
    _row(
        "POST",
        "/admin/users/<login>/password",
        Case("/admin/users/reader/password", {**RIGHTS}),
        ("admin",),
    ),
    _row("POST", "/admin/users/<login>/revoke-tokens", Case("/admin/users/reader/revoke-tokens", RIGHTS), ("admin",)),
)


def markdown_table() -> str:
    """The matrix as the README shows it (one line per route)."""
    head = "| method | route | " + " | ".join(PERSONAS) + " |"
    lines = [head, "|" + "---|" * (len(PERSONAS) + 2)]
    for row in ROWS:
        cells = " | ".join("✓" if row.expected[p] == "ok" else row.expected[p] for p in PERSONAS)
        lines.append(f"| {row.method} | `{row.rule}` | {cells} |")
    return "\n".join(lines)
