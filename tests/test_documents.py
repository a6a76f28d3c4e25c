from __future__ import annotations

import pytest

from docctl.core.documents import compose_document, document_path, parse_document, validate_document_id
from docctl.core.errors import Invalid
from docctl.core.policy import default_policy, parse_policy


@pytest.mark.parametrize("value", ["P-01", "IR-07", "F-P01-02", "PL-01", "A", "DZ1", "X" * 32])
def test_valid_ids(value):
    assert validate_document_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "p-01",
        "1P",
        "-P",
        "P--01",
        "P-",
        "P_01",
        "P 01",
        "P/01",
        "../P-01",
        "--upload-pack=x",
        "P-01\n",
        "P-01\x00",
        "X" * 33,
        "Ą-01",
        None,
        5,
    ],
)
def test_invalid_ids_are_refused(value):
    with pytest.raises(Invalid):
        validate_document_id(value)


def test_document_path():
    assert document_path("P-05") == "documents/P-05.md"
    with pytest.raises(Invalid):
        document_path("../etc")


GOOD = "---\nid: P-01\ntitle: Nadzór\ntype: procedure\nunit: KS\nreview_months: 12\n---\n\n# Treść\n"


def test_parse_and_compose_round_trip():
    parsed = parse_document(GOOD)
    assert parsed.meta.id == "P-01" and parsed.meta.title == "Nadzór" and parsed.body.startswith("# Treść")
    assert parse_document(compose_document(parsed.meta, parsed.body)) == parsed


def test_every_problem_is_reported_at_once():
    with pytest.raises(Invalid) as err:
        parse_document("---\nid: p1\ntype: memo\nunit: KS\nreview_months: 0\nrevision: 3\n---\nx")
    problems = err.value.detail["problems"]
    assert len(problems) == 5, problems  # id, title missing, type, review_months, revision by hand
    assert any("title" in p for p in problems) and any("revision" in p for p in problems)


def test_malformed_yaml_names_the_line():
    with pytest.raises(Invalid, match="line 3"):
        parse_document("---\nid: P-01\ntitle: [unclosed\n---\nbody")


def test_missing_front_matter_and_unclosed():
    with pytest.raises(Invalid, match="front matter"):
        parse_document("# no metadata")
    with pytest.raises(Invalid, match="not closed"):
        parse_document("---\nid: P-01\n")


def test_unit_checked_against_policy():
    with pytest.raises(Invalid, match="not in the policy"):
        parse_document(GOOD.replace("unit: KS", "unit: ZZ"), units={"KS": "x"})


def test_policy_round_trip_and_errors():
    policy = default_policy()
    assert parse_policy(policy.to_yaml()) == policy
    assert [r.role for r in policy.requirements_for("procedure")] == ["approver", "quality_manager"]
    with pytest.raises(Invalid) as err:
        parse_policy("units: {}\nsignatures: {procedure: [{role: boss}]}")
    assert "unknown role" in err.value.message and "at least one organizational unit" in err.value.message
    with pytest.raises(Invalid, match="already exists"):
        policy.with_unit("KS", "again")


@pytest.mark.parametrize(
    "title",
    [
        "Nadzór nad dokumentami",
        "Audyty",
        "Plan: audytów",
        "2024",
        "yes",
        "Tytuł #1",
        "'cytat'",
        "a: b",
        "Ala ma kota  ",
    ],
)
def test_quick_metadata_reads_what_the_yaml_parser_reads(title):
    """Rebuilds read front matter without YAML where docctl wrote plain scalars; never differently."""
    from docctl.core.documents import Metadata, compose_document, parse_document, quick_metadata

    text = compose_document(Metadata("P-01", title.strip(), "procedure", "OR", 12), "# T\n\nTekst.\n").encode()
    assert quick_metadata(text) == parse_document(text.decode()).meta


def test_quick_metadata_of_the_sample_documents_and_bad_texts():
    from docctl.assets import asset_dir
    from docctl.core.documents import parse_document, quick_metadata

    for path in (asset_dir("docs_repo") / "documents").glob("*.md"):
        data = path.read_bytes()
        assert quick_metadata(data) == parse_document(data.decode()).meta, path.name
    assert quick_metadata(b"no front matter") is None
    assert quick_metadata(b"---\nid: P-01\n---\n\ntext\n") is None  # missing keys: invalid, as the parser says
