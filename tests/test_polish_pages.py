"""Issue 32, item 5: no English in the Polish interface — every page a person can open (each GET
row of the authorization matrix, as the personas who may open it) rendered in Polish, and its
visible text checked for an interface message left in English or an internal code shown as is
(document types, states, roles, audit actions)."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from authorization_matrix import ROWS
from babel.messages.pofile import read_po
from test_authorization import Visitor, template  # noqa: F401 - the fixture is used by name
from test_i18n import PO as PO_PATH

from docctl.derived.audit_trail import ACTIONS
from docctl.web.csv_export import HEADERS

# Codes the domain uses internally, which people must only ever see translated (the role codes
# reader, author, approver, auditor and admin are also the logins of the fixture's people).
CODES = (
    "policy procedure instruction form external in_review draft released effective superseded obsolete "
    "cancelled rejected quality_manager created submitted signed voided withdrawn reviewed signing_keys_changed"
).split()
SKIPPED = ("/api/", "/static/", "/healthz", "/metrics", "/logout")
VISITORS = ("qm", "admin", "auditor", "author")


def _visible(page: str) -> str:
    page = re.sub(r"(?is)<(script|style|pre|code|textarea)\b.*?</\1>", " ", page)
    page = re.sub(r"(?is)<article\b.*?</article>", " ", page)  # a document's own text
    page = re.sub(r'(?is)<td class="stored">.*?</td>', " ", page)  # e-mails as sent, in their language
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


@pytest.fixture(scope="module")
def english() -> list[str]:
    """English messages whose Polish differs, of two words or more (single words are too often
    also names, codes or Polish)."""
    with PO_PATH.open("rb") as source:
        catalog = read_po(source)
    found = []
    for message in catalog:
        text = message.id if isinstance(message.id, str) else message.id[0]
        if text and message.string and message.string != message.id and "%(" not in text and len(text.split()) >= 2:
            found.append(text)
    return found


def test_every_page_in_polish_shows_no_english_and_no_internal_code(template, english, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DOCCTL_LANGUAGE", "pl")  # the tests' default is English (conftest)
    visitors = {p: Visitor(template["root"], template["clock"], p, template["tokens"].get(p)) for p in VISITORS}
    problems = []
    for row in ROWS:
        if row.method != "GET" or row.rule.startswith(SKIPPED):
            continue
        for case in row.cases:
            path = case.path.format(**template["fill"])
            for persona in (p for p in VISITORS if row.expected[p] == "ok"):
                answer = visitors[persona].request("GET", path, None)
                answer.close()  # a streamed export holds its request open until closed
                kind = answer.headers.get("Content-Type", "")
                if answer.status_code == 200 and kind.startswith("text/csv"):
                    problems.extend(_csv_problems(path, persona, answer.get_data(as_text=True)))
                    continue
                if answer.status_code != 200 or not kind.startswith("text/html"):
                    continue
                text = _visible(answer.get_data(as_text=True))
                left = [m for m in english if m in text]
                codes = [c for c in CODES if re.search(rf"(?<![\w/.-]){re.escape(c)}(?![\w/.-])", text)]
                if left or codes:
                    problems.append(f"{path} ({persona}): English {left[:3]}, codes {codes[:5]}")
                break
    assert not problems, "\n".join(problems)


def _csv_problems(path: str, persona: str, text: str) -> list[str]:
    """A CSV meant for people: Polish header cells, Polish action words, and a byte-order mark
    so that Excel reads the file as UTF-8."""
    if not text.startswith("\ufeff"):
        return [f"{path} ({persona}): CSV without a byte-order mark"]
    rows = list(csv.reader(io.StringIO(text[1:])))
    codes = [cell for cell in rows[0] if cell in HEADERS or cell in CODES]
    found = []
    if codes:
        found.append(f"{path} ({persona}): CSV header codes {codes}")
    if "Zdarzenie" in rows[0]:
        column = rows[0].index("Zdarzenie")
        left = sorted({row[column] for row in rows[1:] if row[column] in ACTIONS})
        if left:
            found.append(f"{path} ({persona}): CSV actions as codes {left}")
    return found


def test_a_polish_csv_is_checked_for_codes():
    """The CSV check can fail: an English header and an untranslated action are found."""
    english = "\ufeffat,action\n2026-01-01,released\n"
    assert _csv_problems("/x", "qm", english) == ["/x (qm): CSV header codes ['at', 'action']"]
    polish = "\ufeffKiedy,Zdarzenie\n2026-01-01,released\n"
    assert _csv_problems("/x", "qm", polish) == ["/x (qm): CSV actions as codes ['released']"]
    assert _csv_problems("/x", "qm", "Kiedy\n") == ["/x (qm): CSV without a byte-order mark"]
