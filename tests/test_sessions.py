"""Issue 15, item 3: authentication — throttling by account and by client address, sessions that
really end (logout, password change, idleness, age), cookie flags, local-only ``next=``."""

from __future__ import annotations

from conftest import PASSWORD, PEOPLE

from docctl.web import build_app


def login(client, auth, login, password=PASSWORD, address="10.0.0.7"):
    token = auth.csrf()
    return client.post(
        "/login",
        data={"login": login, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def logged_in(client) -> bool:
    return client.get("/", environ_base={"REMOTE_ADDR": "10.0.0.7"}).status_code == 200


def test_one_address_trying_one_password_on_every_account_is_stopped(client, auth, instance, clock):
    logins = sorted(PEOPLE)
    for i in range(20):  # 20 wrong passwords from one address, spread over accounts (≤ 3 each)
        assert login(client, auth, logins[i % len(logins)], "Wrong-password-1").status_code == 401
    # the right password of a fresh account from that address is refused now...
    answer = login(client, auth, "auditor", PASSWORD)
    assert answer.status_code == 429 and "your address" in answer.get_data(as_text=True)
    # ...but not from another address, and no single account was locked by it
    assert login(client, auth, "auditor", PASSWORD, address="10.0.0.8").status_code == 302
    client.post("/logout", data={"csrf_token": auth.csrf("/")})
    clock.advance(minutes=16)  # the lockout expires with the window
    assert login(client, auth, "auditor", PASSWORD).status_code == 302


def test_per_account_throttling_still_holds(client, auth):
    for address in range(5):  # five addresses, one account
        assert login(client, auth, "author", "Wrong-password-1", address=f"10.0.1.{address}").status_code == 401
    assert login(client, auth, "author", PASSWORD, address="10.0.2.1").status_code == 429


def test_a_session_ends_after_idle_time_and_after_its_lifetime(client, auth, clock):
    assert login(client, auth, "reader").status_code == 302
    clock.advance(minutes=29)
    assert logged_in(client)  # used within 30 minutes: alive, and the use counts
    clock.advance(minutes=29)
    assert logged_in(client)
    clock.advance(minutes=31)
    assert not logged_in(client)
    assert client.get("/").headers["Location"].startswith("/login")

    assert login(client, auth, "reader").status_code == 302
    for _ in range(12 * 3):  # used every 20 minutes for 12 hours: never idle, yet it ends
        clock.advance(minutes=20)
        client.get("/")
    clock.advance(minutes=5)
    assert not logged_in(client)


def test_logout_ends_the_session_for_a_copied_cookie_too(app, auth, client):
    assert login(client, auth, "reader").status_code == 302
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    assert logged_in(thief)
    client.post("/logout", data={"csrf_token": auth.csrf("/")})
    assert not logged_in(thief)


def test_a_password_change_ends_every_other_session(app, auth, client):
    other = app.test_client()
    assert login(other, type(auth)(other), "author").status_code == 302
    assert login(client, auth, "author").status_code == 302
    answer = client.post(
        "/account/password",
        data={
            "old_password": PASSWORD,
            "new_password": "Another-long-password-9",
            "confirm": "Another-long-password-9",
            "csrf_token": auth.csrf("/account/password"),
        },
    )
    assert answer.status_code == 302
    assert logged_in(client)  # this browser continues with a new session
    assert not logged_in(other)


def test_session_cookie_flags(instance, auth, client):
    answer = login(client, auth, "reader")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = build_app(instance, {"TESTING": True, "SESSION_COOKIE_SECURE": True}).test_client()
    page = secure.get("/login").headers.get("Set-Cookie", "")
    assert "Secure" in page


def test_next_goes_only_to_local_paths(client, auth):
    for target, expected in (
        ("/documents/P-01", "/documents/P-01"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ):
        token = auth.csrf()
        answer = client.post(
            "/login?next=" + target, data={"login": "reader", "password": PASSWORD, "csrf_token": token}
        )
        assert answer.headers["Location"] == expected, target
        client.post("/logout", data={"csrf_token": auth.csrf("/")})


def test_behind_a_proxy_the_forwarded_address_counts_only_when_trusted(instance, clock):
    from conftest import Auth

    from docctl.ops.instance import Instance

    logins = sorted(set(PEOPLE) - {"auditor"})
    for hops, expected in ((0, 429), (1, 302)):
        configured = Instance(instance.root, overrides={"PROXY_HOPS": hops}, clock=clock)
        client = build_app(configured, {"TESTING": True}).test_client()
        auth = Auth(client)
        for i in range(20):
            client.post(
                "/login",
                data={"login": logins[i % len(logins)], "password": "Wrong-password-1", "csrf_token": auth.csrf()},
                environ_base={"REMOTE_ADDR": "10.9.9.9"},
                headers={"X-Forwarded-For": f"192.168.0.{i}"},
            )
        answer = client.post(
            "/login",
            data={"login": "auditor", "password": PASSWORD, "csrf_token": auth.csrf()},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
            headers={"X-Forwarded-For": "192.168.1.1"},
        )
        # without trust every client behind the proxy is one address; with it, each is itself
        assert answer.status_code == expected, hops
        clock.advance(minutes=16)
