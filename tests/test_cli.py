"""The docctl command, run through click's runner against real instance folders."""

from __future__ import annotations

import subprocess

from click.testing import CliRunner

from docctl.cli import main


def run(tmp_path, *args, input=None):
    return CliRunner().invoke(main, ["--instance", str(tmp_path / "inst"), *args], input=input, catch_exceptions=False)


def test_init_user_unit_token(tmp_path):
    result = run(tmp_path, "init", "--admin-user", "boss", "--admin-password-stdin", input="admin-password-1\n")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "inst" / "secret_key").stat().st_mode & 0o077 == 0
    again = run(tmp_path, "init", "--admin-password-stdin", input="admin-password-1\n")
    assert again.exit_code == 1 and "already" in again.output
    result = run(tmp_path, "unit", "add", "OR", "--name", "Wydział Organizacyjny")
    assert result.exit_code == 0, result.output
    log = subprocess.run(
        [
            "git",
            f"--git-dir={tmp_path / 'inst' / 'repo.git'}",
            "log",
            "-1",
            "--format=%(trailers:key=Action,valueonly)",
            "main",
        ],
        capture_output=True,
        text=True,
    )
    assert log.stdout.strip() == "policy"
    result = run(
        tmp_path,
        "user",
        "add",
        "anowak",
        "--name",
        "Anna Nowak",
        "--email",
        "a.nowak@um.example.pl",
        "--role",
        "approver",
        "--role",
        "author",
        "--unit",
        "OR",
        "--password-stdin",
        input="anna-password-1\n",
    )
    assert result.exit_code == 0, result.output
    bad = run(
        tmp_path,
        "user",
        "add",
        "x",
        "--name",
        "X",
        "--email",
        "x@y.pl",
        "--role",
        "approver",
        "--unit",
        "ZZ",
        "--password-stdin",
        input="long-password-1\n",
    )
    assert bad.exit_code == 1 and "unknown unit ZZ" in bad.output
    bad_role = run(
        tmp_path,
        "user",
        "add",
        "xyz",
        "--name",
        "X",
        "--email",
        "x@y.pl",
        "--role",
        "boss",
        "--password-stdin",
        input="long-password-1\n",
    )
    assert bad_role.exit_code == 1 and "Error:" in bad_role.output
    result = run(tmp_path, "user", "reset-password", "anowak", "--password-stdin", input="temporary-pw-77\n")
    assert result.exit_code == 0, result.output
    from docctl.ops.instance import Instance

    assert Instance(tmp_path / "inst").users.get("anowak").must_change_password
    result = run(tmp_path, "token", "create", "anowak")
    assert result.exit_code == 0
    value = result.output.strip().splitlines()[-1]
    from docctl.ops.instance import Instance

    assert Instance(tmp_path / "inst").users.user_for_token(value).login == "anowak"


def test_commands_on_a_missing_instance_fail_cleanly(tmp_path):
    result = run(tmp_path, "token", "create", "nobody")
    assert result.exit_code == 1 and "docctl init" in result.output


def test_failed_init_leaves_nothing_behind(tmp_path):
    result = run(tmp_path, "init", "--admin-password-stdin", input="short\n")
    assert result.exit_code == 1 and "at least 10 characters" in result.output
    assert not (tmp_path / "inst").exists()


def test_reindex(tmp_path):
    assert run(tmp_path, "init", "--admin-password-stdin", input="long-secret-12\n").exit_code == 0
    result = run(tmp_path, "reindex")
    assert result.exit_code == 0, result.output
    assert "search is ready" in result.output and "(scope=all) read from git" in result.output


def test_missing_secret_key_stops_start_up(tmp_path):
    import pytest

    from docctl import create_app
    from docctl.core.errors import ConfigError

    assert run(tmp_path, "init", "--admin-password-stdin", input="long-secret-12\n").exit_code == 0
    (tmp_path / "inst" / "secret_key").unlink()
    with pytest.raises(ConfigError, match="secret key"):
        create_app(tmp_path / "inst")
    result = run(tmp_path, "serve", "--port", "1")
    assert result.exit_code == 1 and "secret key" in result.output
