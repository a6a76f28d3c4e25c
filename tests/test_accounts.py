"""Issue 15, item 5: people managed in the product by administrators, every change recorded where
an auditor sees it, rights changes effective at once, no self-service of rights, no admin signs."""

from __future__ import annotations

from conftest import DOC, PASSWORD, Auth, release

from docctl.core import signing


def admin_post(client, auth, path, data, password=PASSWORD):
    return client.post(path, data={**data, "admin_password": password, "csrf_token": auth.csrf("/admin/users")})


def trail(client, instance, **query):
    headers = {"Authorization": f"Bearer {instance.users.create_token('auditor')}"}
    answer = client.get("/api/v1/audit/events", query_string={"action": "account_changed", **query}, headers=headers)
    return [(e["login"], e["detail"]) for e in answer.get_json()["events"]]


def test_only_admins_manage_people(client, auth):
    assert client.get("/admin/users").status_code in (302, 401)
    auth.login("qm")
    assert client.get("/admin/users").status_code == 403
    auth.client.post("/logout", data={"csrf_token": auth.csrf("/")})
    auth.login("admin")
    page = client.get("/admin/users").get_data(as_text=True)
    assert "qm" in page and "approver_fn" in page


def test_adding_a_person_is_recorded_and_they_choose_their_own_password(client, auth, instance):
    auth.login("admin")
    data = {"login": "jkowal", "name": "Jan Kowal", "email": "j.kowal@um.example.pl", "roles": ["author"]}
    data["units"], data["password"] = ["OR"], "Temporary-pass-42"
    assert admin_post(client, auth, "/admin/users/new", data).status_code == 302
    person = instance.users.get("jkowal")
    assert person.roles == {"author"} and person.units == {"OR"} and person.must_change_password
    assert ("admin", "created: jkowal (roles author; units OR)") in trail(client, instance)


def test_a_role_change_needs_the_admin_password_is_recorded_and_ends_their_sessions(app, client, auth, instance):
    theirs = app.test_client()
    Auth(theirs).login("author")
    assert theirs.get("/").status_code == 200
    auth.login("admin")
    change = {"roles": ["author", "approver"], "units": ["OR"], "name": "Author", "email": "author@um.example.pl"}
    refused = admin_post(client, auth, "/admin/users/author", change, password="not-my-password")
    assert refused.status_code == 401 and instance.users.get("author").roles == {"author"}
    assert admin_post(client, auth, "/admin/users/author", change).status_code == 302
    assert instance.users.get("author").roles == {"author", "approver"}
    assert theirs.get("/").status_code == 302  # their session ended with the change of rights
    assert ("admin", "changed: author (+role approver)") in trail(client, instance)
    # the trail filters by person (whose account or who acted) and the page lists it too
    assert trail(client, instance, actor="author") == [("admin", "changed: author (+role approver)")]
    assert "changed: author" in client.get("/audit?action=account_changed").get_data(as_text=True)


def test_nobody_changes_their_own_rights(client, auth, instance):
    auth.login("admin")
    answer = admin_post(client, auth, "/admin/users/admin", {"roles": ["admin", "quality_manager"], "units": []})
    assert answer.status_code == 403 and "another administrator" in answer.get_data(as_text=True)
    assert instance.users.get("admin").roles == {"admin"}
    assert admin_post(client, auth, "/admin/users/admin/deactivate", {}).status_code == 403


def test_an_administrator_never_signs(instance, people):
    release(instance, people)
    both = instance.users.add(
        "boss", name="Boss", email="boss@um.example.pl", roles=["admin", "quality_manager"], password=PASSWORD
    )
    policy = instance.workflow.policy()
    assert not any(signing.can_fulfil(both, r, "OR") for r in policy.requirements_for("procedure"))
    change = instance.workflow.create(people["author"], doc_id="P-01", markdown=DOC + "\nX.\n", reason="X")
    instance.workflow.submit(people["author"], change.number)
    assert not signing.may_sign(policy, "procedure", "OR", instance.workflow.get(change.number), both)


def test_deactivation_keeps_the_name_on_signatures_and_closes_every_door(app, client, auth, instance, people):
    release(instance, people)
    token = instance.users.create_token("approver")
    theirs = app.test_client()
    Auth(theirs).login("approver")
    auth.login("admin")
    assert admin_post(client, auth, "/admin/users/approver/deactivate", {}).status_code == 302
    assert theirs.get("/").status_code == 302
    assert client.get("/api/v1/documents", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert Auth(app.test_client()).login("approver").status_code == 401
    approvals = client.get("/api/v1/documents/P-01").get_json()["approvals"]
    assert "Approver" in {a["name"] for a in approvals}  # history keeps who signed
    assert ("admin", "deactivated: approver") in trail(client, instance)


def test_tokens_show_their_last_use_and_can_be_revoked(client, auth, instance):
    token = instance.users.create_token("reader", label="intranet")
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "1.2.3.4"}
    assert client.get("/api/v1/documents", headers=headers, environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 200
    auth.login("admin")
    page = client.get("/admin/users/reader").get_data(as_text=True)
    assert "intranet" in page and "from 10.1.1.1" in page
    assert admin_post(client, auth, "/admin/users/reader/revoke-tokens", {}).status_code == 302
    assert client.get("/api/v1/documents", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert ("admin", "tokens revoked: reader (1 token(s))") in trail(client, instance)


def test_cli_token_revoke_and_list(instance):
    from click.testing import CliRunner

    from docctl.cli import main

    instance.users.create_token("reader", label="a")
    instance.users.create_token("reader", label="b")
    runner = CliRunner()
    args = ["--instance", str(instance.root)]
    result = runner.invoke(main, [*args, "token", "revoke", "reader", "--label", "a"])
    assert result.exit_code == 0 and "Revoked 1 token(s) of reader." in result.output
    listing = runner.invoke(main, [*args, "token", "list", "reader"]).output
    assert listing.count("revoked") == 1 and listing.count("active") == 1 and "never used" in listing


def test_a_temporary_password_always_passes_the_password_policy(monkeypatch):
    """A random temporary password may hold a short login ("qm"), which the policy refuses:
    the reset then failed about once in 70 (seen as a flaky CLI test). One is drawn again."""
    import secrets

    from docctl.stores import accounts
    from docctl.stores.people import check_password_policy

    drawn = iter(["xxQMxxxxxxxxxxxx", "aaaaaaaaaaaaaaaa", "k3-Fz9_pLmN2wQ7r"])  # the login, too few letters, good
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: next(drawn))
    assert accounts.temporary_password_for("qm") == "k3-Fz9_pLmN2wQ7r"
    monkeypatch.undo()
    for _ in range(500):
        check_password_policy(accounts.temporary_password_for("qm"), "qm")
