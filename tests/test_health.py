"""What a monitoring system reads (issue 31): /healthz part by part with a status code a load
balancer acts on, and /metrics in Prometheus' text format."""

from __future__ import annotations

from conftest import PASSWORD


def _bearer(instance, login: str) -> dict:
    return {"Authorization": f"Bearer {instance.users.create_token(login)}"}


def test_healthz_reports_each_part(client, instance):
    answer = client.get("/healthz")
    data = answer.get_json()
    assert answer.status_code == 200 and data["status"] == "ok"
    assert set(data["parts"]) == {
        "git",
        "database",
        "search_index",
        "all_revisions_index",
        "audit_trail",
        "outbox",
        "remote",
    }
    assert data["parts"]["git"]["main"] == instance.store.head()
    assert data["parts"]["database"] == {"status": "ok", "kind": "sqlite"}
    assert data["parts"]["remote"] == {"status": "none"}


def test_a_failing_repository_takes_the_server_out_of_rotation(client, instance, monkeypatch):
    from docctl.stores.git import GitError

    def broken(*_args, **_kwargs):
        raise GitError("git rev-parse failed: fatal: not a git repository")

    monkeypatch.setattr(type(instance.store), "head", broken)
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.get_json()["status"] == "failing"
    assert answer.get_json()["parts"]["git"]["status"] == "failing"


def test_metrics_count_requests_by_route_and_releases(client, instance):
    wf = instance.workflow
    people = {p.login: p for p in instance.users.list()}
    change = wf.create(
        people["author"],
        doc_id="P-01",
        markdown="# P\n\nTekst.\n",
        reason="r",
        title="P",
        doc_type="procedure",
        unit="OR",
    )
    wf.submit(people["author"], change.number)
    wf.approve(people["approver"], change.number, password=PASSWORD)
    headers = _bearer(instance, "qm")
    answer = client.post(f"/api/v1/changes/{change.number}/approve", json={"password": PASSWORD}, headers=headers)
    assert answer.get_json()["state"] == "released"
    client.get("/api/v1/documents/P-01", headers=headers)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'docctl_request_seconds_count{method="GET",route="/api/v1/documents/<doc_id>"}' in text
    assert "docctl_release_seconds_count" in text
    assert "docctl_outbox_pending" in text and "docctl_search_index_lag_commits 0.0" in text
    assert "docctl_ready 1.0" in text
