from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from docctl.core.errors import Conflict, Forbidden, Invalid, NotFound, Throttled, Unauthorized
from docctl.stores.confirmations import AckStore
from docctl.stores.people import UserStore, hash_password, verify_password

PW = "a-good-password-1"


class Clock:
    def __init__(self):
        self.now = datetime(2026, 1, 1, 9, tzinfo=UTC)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def users(tmp_path, clock):
    store = UserStore(tmp_path / "users.sqlite3", clock=clock)
    store.add("anowak", name="Anna Nowak", email="a.nowak@um.example.pl", roles=["approver"], units=["OR"], password=PW)
    return store


def test_add_get_list_update(users):
    person = users.get("anowak")
    assert (
        person.roles == {"approver"}
        and person.units == {"OR"}
        and person.signature == "Anna Nowak <a.nowak@um.example.pl>"
    )
    assert [u.login for u in users.list()] == ["anowak"]
    assert users.update("anowak", roles=["approver", "author"], units=["OR", "FN"]).units == {"OR", "FN"}
    with pytest.raises(NotFound):
        users.get("nobody")


@pytest.mark.parametrize(
    "login,email,roles,units,password",
    [
        ("A", "a@b.pl", ["reader"], [], PW),
        ("--x", "a@b.pl", ["reader"], [], PW),
        ("ok", "not-an-email", ["reader"], [], PW),
        ("ok", "a@b.pl", ["boss"], [], PW),
        ("ok", "a@b.pl", [], [], PW),
        ("ok", "a@b.pl", ["reader"], ["or"], PW),
        ("ok", "a@b.pl", ["reader"], [], "short"),
        ("ok", "a@b.pl", ["reader"], [], "password123"),
        ("kowalski", "a@b.pl", ["reader"], [], "kowalski-2026"),
    ],
)
def test_invalid_people_are_refused(users, login, email, roles, units, password):
    with pytest.raises(Invalid):
        users.add(login, name="X", email=email, roles=roles, units=units, password=password)


def test_duplicate_login(users):
    with pytest.raises(Conflict):
        users.add("anowak", name="A", email="a@b.pl", roles=["reader"], password=PW)


def test_authenticate(users):
    assert users.authenticate("anowak", PW).login == "anowak"
    for login, password in (("anowak", "wrong-password"), ("ghost", PW)):
        with pytest.raises(Unauthorized, match="wrong login or password"):
            users.authenticate(login, password)
    users.update("anowak", active=False)
    with pytest.raises(Unauthorized):
        users.authenticate("anowak", PW)


def test_throttling_per_purpose_and_window(users, clock):
    for _ in range(5):
        with pytest.raises(Unauthorized):
            users.authenticate("anowak", "wrong-password")
    with pytest.raises(Throttled):
        users.authenticate("anowak", PW)
    assert users.check_signing_password("anowak", PW)  # signing is counted separately
    clock.now += timedelta(minutes=16)
    assert users.authenticate("anowak", PW)
    for _ in range(4):
        with pytest.raises(Unauthorized):
            users.authenticate("anowak", "wrong-password")
    users.authenticate("anowak", PW)  # a success clears the count
    with pytest.raises(Unauthorized):
        users.authenticate("anowak", "wrong-password")
    assert users.authenticate("anowak", PW)


def test_reset_forces_a_new_password_before_signing(users):
    users.reset_password("anowak", "temporary-pass-9")
    assert users.get("anowak").must_change_password
    with pytest.raises(Forbidden):
        users.check_signing_password("anowak", "temporary-pass-9")
    users.set_password("anowak", "my-own-new-pass-7", old_password="temporary-pass-9")
    assert users.check_signing_password("anowak", "my-own-new-pass-7").login == "anowak"


def test_tokens_are_stored_hashed_and_revocable(users, tmp_path):
    token = users.create_token("anowak", label="skrypt")
    assert users.user_for_token(token).login == "anowak"
    assert token.encode() not in (tmp_path / "users.sqlite3").read_bytes()
    wal = tmp_path / "users.sqlite3-wal"
    assert not wal.exists() or token.encode() not in wal.read_bytes()
    [listed] = users.list_tokens("anowak")
    users.revoke_token(listed["id"])
    with pytest.raises(Unauthorized):
        users.user_for_token(token)
    with pytest.raises(Unauthorized):
        users.user_for_token("dct_unknown")


def test_hash_format():
    first, second = hash_password(PW), hash_password(PW)
    assert first.startswith("scrypt$") and first != second
    assert verify_password(PW, first) and not verify_password("other", first) and not verify_password(PW, "junk")


def test_concurrent_additions(users):
    errors = []

    def add(n):
        try:
            users.add(f"user{n}", name=f"U {n}", email=f"u{n}@um.example.pl", roles=["reader"], password=PW)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(users.list()) == 9


def test_acknowledgements_are_append_only(tmp_path, clock):
    import sqlite3

    acks = AckStore(tmp_path / "acks.sqlite3", clock=clock)
    first = acks.record("anowak", "P-01", 2)
    clock.now += timedelta(days=1)
    assert acks.record("anowak", "P-01", 2) == first  # idempotent: the first time is kept
    assert acks.has("anowak", "P-01", 2) and not acks.has("anowak", "P-01", 3)
    acks.record("jkowalska", "P-01", 2)
    assert [a.login for a in acks.for_document("P-01", 2)] == ["anowak", "jkowalska"]
    assert [a.document_id for a in acks.for_user("anowak")] == ["P-01"]
    conn = sqlite3.connect(tmp_path / "acks.sqlite3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE acknowledgements SET revision = 9")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM acknowledgements")
    conn.close()
