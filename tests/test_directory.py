"""Sign-in through the office's directory (issue 32, item 1), against a real OpenLDAP ``slapd`` the
tests start in a temporary folder: login, a wrong password, roles and units from groups (found by
searching the groups, no memberOf), signing with the directory password, a directory that cannot
be reached (local administrators still log in), every change journaled."""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD, make_instance

from docctl.core.errors import Invalid, Unauthorized, Unavailable
from docctl.web import build_app

GROUPS = {
    "cn=docctl-approvers-or,ou=groups,dc=um,dc=example,dc=pl": "approver:OR",
    "cn=docctl-quality,ou=groups,dc=um,dc=example,dc=pl": "quality_manager",
    "cn=docctl-authors,ou=groups,dc=um,dc=example,dc=pl": "author:OR,FN",
}


@pytest.fixture(scope="module")
def directory():
    from ldap_server import ADMIN_DN, ADMIN_PASSWORD, LdapServer, group, person

    entries = (
        person("anowak", "Anna Nowak", "a.nowak@um.example.pl", "anna-directory-pass")
        + person("jkowal", "Jan Kowalski", "j.kowalski@um.example.pl", "jan-directory-pass")
        + person("zwis", "Zofia Wiśniewska", "z.wisniewska@um.example.pl", "zofia-directory-pass")
        + group("docctl-approvers-or", ["anowak"])
        + group("docctl-quality", ["jkowal"])
        + group("docctl-authors", ["anowak", "jkowal"])
    )
    try:
        server = LdapServer(entries)
    except RuntimeError as why:
        pytest.skip(f"no OpenLDAP server can be started here: {why}")
    server.admin = (ADMIN_DN, ADMIN_PASSWORD)
    yield server
    server.remove()


@pytest.fixture
def office(tmp_path, clock, directory):
    """An instance signing people in through the directory; `admin` (local) stays local."""
    overrides = {
        "LDAP_URL": directory.url,
        "LDAP_BIND_DN": directory.admin[0],
        "LDAP_BIND_PASSWORD": directory.admin[1],
        "LDAP_USER_BASE": "ou=people,dc=um,dc=example,dc=pl",
        "LDAP_USER_FILTER": "(uid={login})",
        "LDAP_GROUPS": GROUPS,
    }
    return make_instance(tmp_path / "instance", clock, overrides=overrides)


def test_a_person_signs_in_with_the_directory_password_and_gets_roles_from_groups(office):
    person = office.users.authenticate("anowak", "anna-directory-pass")
    assert (person.name, person.email) == ("Anna Nowak", "a.nowak@um.example.pl")
    assert person.roles == {"approver", "author"} and person.units == {"OR", "FN"}
    events = office.users.account_events("anowak")
    assert events[0]["actor"] == "directory" and events[0]["event"] == "created"
    assert "role approver" in events[0]["detail"] and "uid=anowak" in events[0]["detail"]
    assert office.users.from_directory("anowak")
    with pytest.raises(Invalid, match="the password is changed there"):
        office.users.set_password("anowak", "a-local-password-1", old_password=None)


def test_someone_in_no_docctl_group_may_read(office):
    assert office.users.authenticate("zwis", "zofia-directory-pass").roles == {"reader"}


def test_a_wrong_password_or_an_unknown_login_is_refused_and_counted(office):
    with pytest.raises(Unauthorized):
        office.users.authenticate("anowak", "not-her-password")
    with pytest.raises(Unauthorized):
        office.users.authenticate("nobody", "anything-at-all")
    with pytest.raises(Unauthorized):
        office.users.authenticate("anowak", "")  # never an anonymous bind
    with pytest.raises(Unauthorized):
        office.users.authenticate("*", "anna-directory-pass")  # the filter is escaped


def test_group_changes_in_the_directory_are_journaled_at_the_next_login(office, directory):
    import ldap3

    office.users.authenticate("jkowal", "jan-directory-pass")
    admin = ldap3.Connection(ldap3.Server(directory.url), user=directory.admin[0], password=directory.admin[1])
    assert admin.bind()
    group = "cn=docctl-approvers-or,ou=groups,dc=um,dc=example,dc=pl"
    admin.modify(group, {"member": [(ldap3.MODIFY_ADD, ["uid=jkowal,ou=people,dc=um,dc=example,dc=pl"])]})
    try:
        person = office.users.authenticate("jkowal", "jan-directory-pass")
        assert "approver" in person.roles
        last = office.users.account_events("jkowal")[-1]
        assert (last["actor"], last["event"]) == ("directory", "changed") and "+role approver" in last["detail"]
    finally:
        admin.modify(group, {"member": [(ldap3.MODIFY_DELETE, ["uid=jkowal,ou=people,dc=um,dc=example,dc=pl"])]})
        admin.unbind()


def test_signing_checks_the_directory_password_again(office):
    from conftest import DOC

    wf = office.workflow
    author = office.users.get("author")  # a local author from the fixture
    change = wf.create(author, doc_id="P-01", markdown=DOC, reason="r", title="T", doc_type="procedure", unit="OR")
    wf.submit(author, change.number)
    anna = office.users.authenticate("anowak", "anna-directory-pass")
    with pytest.raises(Unauthorized):
        wf.approve(anna, change.number, password=PASSWORD)  # a local password means nothing for her
    signed = wf.approve(anna, change.number, password="anna-directory-pass")
    assert any(a["email"] == "a.nowak@um.example.pl" for a in signed.as_json()["approvals"])


def test_a_directory_that_cannot_be_reached_says_so_and_local_admins_still_log_in(office, directory):
    directory.stop()
    try:
        with pytest.raises(Unavailable, match="directory cannot be reached"):
            office.users.authenticate("anowak", "anna-directory-pass")
        assert office.users.authenticate("admin", PASSWORD).has_role("admin")
        client = build_app(office, {"TESTING": True}).test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        answer = client.post("/login", data={"login": "anowak", "password": "x-anything", "csrf_token": token})
        assert answer.status_code == 503 and "directory" in answer.get_data(as_text=True)
    finally:
        directory.start()


def test_after_a_password_change_in_the_directory_the_next_signature_makes_a_new_key(office, directory, clock):
    import ldap3
    from conftest import DOC

    wf = office.workflow
    author = office.users.get("author")
    first = wf.create(author, doc_id="P-01", markdown=DOC, reason="r", title="T", doc_type="procedure", unit="OR")
    second = wf.create(author, doc_id="P-02", markdown=DOC, reason="r", title="T", doc_type="procedure", unit="OR")
    for change in (first, second):
        wf.submit(author, change.number)
    anna = office.users.authenticate("anowak", "anna-directory-pass")
    wf.approve(anna, first.number, password="anna-directory-pass")
    admin = ldap3.Connection(ldap3.Server(directory.url), user=directory.admin[0], password=directory.admin[1])
    assert admin.bind()
    dn = "uid=anowak,ou=people,dc=um,dc=example,dc=pl"
    admin.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, ["anna-new-directory-pass"])]})
    clock.advance(days=1)
    try:
        wf.approve(anna, second.number, password="anna-new-directory-pass")
        keys = [k for k in wf.signers() if k.principal == "a.nowak@um.example.pl"]
        assert len(keys) == 2 and keys[0].valid_before is not None and keys[1].valid_before is None
        report = office.verify(full=True)
        assert report.ok, report.problems
    finally:
        admin.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, ["anna-directory-pass"])]})
        admin.unbind()
