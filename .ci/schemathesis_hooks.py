"""Schemathesis hooks for `.ci/fuzz-api`: the one rule of the API no JSON Schema can state.

An effective date must not lie in the past, and "the past" depends on the day the request is
made, so the fuzzer is told to draw only today or later; everything else it draws from the
served OpenAPI document as it is. (A document's text must also not start a broken front
matter block or hold merge-conflict markers: the 422s for those are real refusals, and the
generator practically never draws them; if it does, the run shows it.)
"""

import os
import re
from datetime import UTC, datetime

import schemathesis

DOC_ID = r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)*"  # docctl.web.api_schema.DOC_ID_PATTERN


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """Every phase (the coverage phase draws no body through the filters): a valid past date
    becomes today; a malformed one is left as drawn, to be refused."""
    if case.method.upper() == "PUT" and case.path.endswith("/docx"):
        case.body = _word_file()  # a real .docx: any bytes are "schema-valid", few are Word files
        return
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("effective_date"), str):
        today = datetime.now(UTC).date().isoformat()
        drawn = body["effective_date"]
        if len(drawn) == 10 and drawn[4] == "-" and drawn[7] == "-" and drawn < today:
            body["effective_date"] = today


@schemathesis.hook
def flatmap_path_parameters(ctx, parameters):
    """Half the time, a document or change that exists (the demo's, from DOCCTL_FUZZ_DOCUMENTS and
    DOCCTL_FUZZ_CHANGES), so reads and workflow steps run on real data, not only into 404.
    Only a valid drawn value is replaced: a schema-violating one (the negative phase) stays as
    drawn, or schemathesis would judge a valid request as if it were the invalid one it drew."""
    from hypothesis import strategies as st

    real = dict(parameters or {})
    documents = [d for d in os.environ.get("DOCCTL_FUZZ_DOCUMENTS", "").split(",") if d]
    changes = [int(c) for c in os.environ.get("DOCCTL_FUZZ_CHANGES", "").split(",") if c]
    valid_id = isinstance(real.get("doc_id"), str) and re.fullmatch(DOC_ID, real["doc_id"])
    valid_number = type(real.get("number")) is int and 1 <= real["number"] <= 2**31 - 1
    if "doc_id" in real and (not valid_id or ("number" in real and not valid_number)):
        return st.just(parameters)
    if "number" in real and not valid_number:
        return st.just(parameters)
    if "doc_id" in real and documents:
        real["doc_id"] = st.sampled_from(documents)
    if "number" in real and changes and "doc_id" not in real:
        real["number"] = st.sampled_from(changes)
    if "number" in real and "doc_id" in real:
        real["number"] = st.integers(1, 3)
    if real == (parameters or {}):
        return st.just(parameters)
    drawn = {k: v if isinstance(v, st.SearchStrategy) else st.just(v) for k, v in real.items()}
    return st.one_of(st.just(parameters), st.fixed_dictionaries(drawn))


_WORD = []


def _word_file() -> bytes:
    """A small Word file made the way docctl makes them (once)."""
    if not _WORD:
        from docctl.adoption.word import to_docx

        _WORD.append(to_docx("# Próba\n\nTekst poprawiony w Wordzie.\n", {"Symbol": "P-01"}, [], {}))
    return _WORD[0]


@schemathesis.serializer("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
def word_file(ctx, value):
    """The Word round trip's upload (issue 32) is a file: whatever was drawn goes as bytes (the API
    must refuse what is not a .docx with a 422, never fail)."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8")
