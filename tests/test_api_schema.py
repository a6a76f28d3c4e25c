"""Issue 15, item 6: one set of models validates API requests and writes the OpenAPI document.

The fuzzing itself runs against a served instance in CI (`.ci/fuzz-api`, schemathesis with every
check); these tests pin what it relies on and what a caller sees.
"""

from __future__ import annotations

import pytest
from conftest import PASSWORD, release

from docctl.core.commits import format_message
from docctl.core.errors import Invalid
from docctl.web import api_schema

NEW = {"document_id": "P-01", "markdown": "# Nadzór\n\nNowy tekst.\n", "reason": "Zmiana"}


def bearer(instance, login="author"):
    return {"Authorization": f"Bearer {instance.users.create_token(login)}"}


@pytest.fixture
def released(instance, people):
    release(instance, people)


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def test_every_api_route_is_a_declared_operation(app):
    undeclared = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1") and not hasattr(app.view_functions[rule.endpoint], "api_operation")
    ]
    assert not undeclared


def test_the_document_carries_the_models_rules(spec):
    assert spec["openapi"] == "3.1.0"
    body = spec["components"]["schemas"]["NewChange"]
    assert body["additionalProperties"] is False and set(body["required"]) == {"markdown", "reason"}
    assert body["properties"]["document_id"]["pattern"] == api_schema.DOC_ID_PATTERN
    assert body["properties"]["unit"]["enum"] == ["FN", "KS", "OR"]  # this instance's policy
    path = spec["paths"]["/changes/{number}"]["get"]["parameters"][0]["schema"]
    assert path["type"] == "integer" and path["minimum"] == 1
    search = {p["name"]: p["schema"] for p in spec["paths"]["/search"]["get"]["parameters"]}
    assert search["scope"]["enum"] == ["current", "all", "drafts"] and search["page"]["maximum"] == 1000


def test_every_operation_lists_its_refusals_with_the_error_shape(spec):
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            if op["security"]:
                assert "401" in codes, (method, path)
            if "requestBody" in op:
                assert {"400", "413", "422"} <= codes, (method, path)
            for code in codes - {"200", "201"}:
                assert op["responses"][code]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
    assert spec["paths"]["/openapi.json"]["get"]["security"] == []
    assert "429" in spec["paths"]["/changes/{number}/approve"]["post"]["responses"]


def test_a_misspelt_or_null_field_is_refused_with_each_problem(client, instance, released):
    answer = client.post("/api/v1/changes", headers=bearer(instance), json={**NEW, "reson": "x", "title": None})
    assert answer.status_code == 422
    problems = answer.get_json()["error"]["detail"]["problems"]
    assert any(p.startswith("reson:") for p in problems) and any(p.startswith("title:") for p in problems)


@pytest.mark.parametrize(
    "query",
    ["/api/v1/documents?as_of=0", "/api/v1/documents?unit=ZZ", "/api/v1/search?q=a&page=0", "/api/v1/changes?state=x"],
)
def test_query_arguments_outside_the_document_get_422(client, instance, released, query):
    answer = client.get(query, headers=bearer(instance, "reader"))
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "invalid"


def test_a_revision_of_a_document_that_does_not_exist_is_404(client, instance, released):
    answer = client.post("/api/v1/changes", headers=bearer(instance), json={**NEW, "document_id": "P-99"})
    assert answer.status_code == 404


def test_anonymous_writes_get_401_before_the_csrf_check(client, released):
    answer = client.post("/api/v1/changes", json=NEW)
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "unauthorized"


def test_a_405_says_which_methods_are_allowed(client, instance, released):
    answer = client.delete("/api/v1/documents/P-01", headers=bearer(instance))
    assert answer.status_code == 405 and "GET" in answer.headers["Allow"]


@pytest.mark.parametrize("field", ["reason", "title"])
def test_control_characters_never_reach_git(client, instance, released, field):
    body = {**NEW, field: "Zmiana\x00"}
    answer = client.post("/api/v1/changes", headers=bearer(instance), json=body)
    assert answer.status_code == 422


def test_the_core_refuses_control_characters_too(instance, people):
    with pytest.raises(Invalid, match="U\\+0000"):
        format_message("Change 1: submit", "a\x00b")
    with pytest.raises(Invalid, match="control character"):
        instance.workflow.create(
            people["author"], doc_id=None, markdown="# A\n\nB\x07\n", reason="x", title="A", doc_type="form", unit="OR"
        )


def test_a_valid_signature_through_the_declared_operation(client, instance, people):
    change = instance.workflow.create(
        people["author"],
        doc_id=None,
        markdown="# I\n\nTekst.\n",
        reason="Nowa",
        title="I",
        doc_type="instruction",
        unit="OR",
    )
    instance.workflow.submit(people["author"], change.number)
    answer = client.post(
        f"/api/v1/changes/{change.number}/approve", headers=bearer(instance, "approver"), json={"password": PASSWORD}
    )
    assert answer.status_code == 200 and answer.get_json() == {
        "number": change.number,
        "state": "released",
        "head": answer.get_json()["head"],
        "revision": 1,
    }
