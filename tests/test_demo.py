"""`docctl demo` replays docs_repo/ through the real workflow: check what a newcomer will see."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
import yaml

from docctl.assets import asset_dir
from docctl.core.documents import parse_document
from docctl.core.policy import POLICY_PATH, parse_policy

DOCS = asset_dir("docs_repo")


@pytest.fixture(scope="module")
def demo_cli(tmp_path_factory):
    """One demo, built the way the quick start builds it (`docctl demo DIR`), for the whole
    module: the instance, its people and what the command printed (a demo takes ~20 s)."""
    from click.testing import CliRunner

    import docctl.ops.demo
    import docctl.stores.people
    from docctl.cli import main

    built = {}
    original = docctl.ops.demo.build_demo

    def recorded(*args, **kwargs):
        built["instance"], built["people"] = original(*args, **kwargs)
        return built["instance"], built["people"]

    saved = docctl.stores.people._SCRYPT
    docctl.stores.people._SCRYPT = {"n": 2**8, "r": 8, "p": 1}
    docctl.ops.demo.build_demo = recorded
    try:
        target = tmp_path_factory.mktemp("demo") / "instance"
        result = CliRunner().invoke(main, ["demo", str(target)], catch_exceptions=False)
    finally:
        docctl.stores.people._SCRYPT = saved
        docctl.ops.demo.build_demo = original
    return built["instance"], built["people"], result


@pytest.fixture(scope="module")
def demo(demo_cli):
    instance, people, _ = demo_cli
    return instance, people


def test_sample_set_is_valid_and_broad():
    policy = parse_policy((DOCS / POLICY_PATH).read_text(encoding="utf-8"))
    docs = [
        parse_document(p.read_text(encoding="utf-8"), units=policy.units) for p in (DOCS / "documents").glob("*.md")
    ]
    assert len(docs) >= 12
    assert {d.meta.type for d in docs} == {"policy", "procedure", "instruction", "form", "external"}
    assert len({d.meta.unit for d in docs}) >= 5
    for path in (DOCS / "documents").glob("*.md"):
        assert parse_document(path.read_text(encoding="utf-8")).meta.id == path.stem


def test_demo_history(demo):
    instance, _ = demo
    today = instance.today()
    states = {s.doc_id: s for s in instance.catalog.master_list(today, include_obsolete=True)}
    assert len(states) == len(list((DOCS / "documents").glob("*.md")))
    multi = [d for d in states if len(instance.catalog.revisions(d)) >= 2]
    assert len(multi) >= 4
    assert [d for d, s in states.items() if s.status == "obsolete"] == ["IR-03"]
    open_changes = {c.doc_id: c.state for c in instance.workflow.list_changes() if c.state != "released"}
    assert open_changes == {"P-01": "in_review", "P-07": "draft"}
    for rev in instance.catalog.revisions("P-05"):
        assert rev.reason and len(rev.signatures) == 2
    instance.store.fsck()
    log = subprocess.run(
        [
            "git",
            f"--git-dir={instance.store.path}",
            "log",
            "--first-parent",
            "main",
            "--format=%(trailers:key=Action,valueonly,separator=)",
        ],
        capture_output=True,
        text=True,
    )
    actions = log.stdout.split()
    assert actions.count("withdraw") == 1 and actions.count("review") >= 3 and actions[-1] == "init"


def test_demo_logins_work_for_every_role(demo):
    instance, people = demo
    spec = yaml.safe_load((DOCS / "demo.yaml").read_text(encoding="utf-8"))
    assert {r for p in spec["people"] for r in p["roles"]} == {
        "reader",
        "author",
        "approver",
        "quality_manager",
        "auditor",
        "admin",
    }
    for person in people:
        assert instance.users.authenticate(person["login"], person["password"]).login == person["login"]


def test_demo_is_searchable(demo):
    instance, _ = demo
    hits = instance.search.search("audytów", at=instance.today()).hits
    assert "P-05" in [h.doc_id for h in hits[:2]]
    assert not instance.search.search("nośnikach optycznych", at=instance.today()).hits  # IR-03 is obsolete


def test_cli_demo_prints_logins(demo_cli):
    instance, _, result = demo_cli
    assert result.exit_code == 0
    assert "pmazur" in result.output and "demo-2026-pelnomocnik" in result.output
    assert Path(instance.root / "repo.git").is_dir()


# -- the README's git commands, run as written against the demo history (issue 17) -------------
def _readme_git_commands() -> list[str]:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("Commands an auditor can run", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.startswith("git ")]


def _run(instance, command: str, **names: str) -> str:
    for name, value in names.items():
        command = command.replace(f"<{name}>", value)
    env = {"GIT_DIR": str(instance.store.path), "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, (command, proc.stderr)
    return proc.stdout


def test_readme_git_commands_tell_the_story_of_the_demo(demo):
    instance, _ = demo
    commands = _readme_git_commands()
    assert len(commands) == 9, commands
    purposes = ("main", "document", "show", "diff", "change", "signed", "covered", "released", "register")
    by_purpose = dict(zip(purposes, commands, strict=True))
    revisions = instance.catalog.revisions("P-05")
    older, newer = revisions[-1].commit, revisions[0].commit

    main_log = _run(instance, by_purpose["main"])
    assert "release P-05 rev" in main_log and "withdraw IR-03" in main_log and "review" in main_log

    doc_log = _run(instance, by_purpose["document"]).splitlines()
    assert len(doc_log) == len(revisions)  # one line per release of P-05, nothing else
    assert [line.split()[1] for line in doc_log] == [str(r.revision) for r in revisions]

    shown = _run(instance, by_purpose["show"], commit=newer)
    assert shown.startswith("---\nid: P-05")
    diff = _run(instance, by_purpose["diff"], **{"older-commit": older, "newer-commit": newer})
    assert diff.startswith("diff --git a/documents/P-05.md")

    number = int(by_purpose["change"].split("^Change: ", 1)[1].split("$", 1)[0])
    change = instance.workflow.get(number)
    steps = _run(instance, by_purpose["change"]).splitlines()
    assert len(steps) == len(change.events) >= 3  # only this change's own steps
    assert " create " in steps[0] and [s.split()[0] for s in steps] == [
        e.commit[: len(s.split()[0])] for s, e in zip(steps, change.events, strict=True)
    ]

    assert _run(instance, by_purpose["signed"]).strip() == instance.store.blob_id(newer, "documents/P-05.md")


def test_readme_git_commands_check_signatures_and_the_register(demo):
    """The auditor's plain-git answers agree with docctl's (issue 18)."""
    instance, _ = demo
    commands = dict(zip(("covered", "released", "register"), _readme_git_commands()[6:], strict=True))
    number = int(commands["covered"].split("changes/", 1)[1].split()[0])
    change = instance.workflow.get(number)
    covered = [line.split()[-1] for line in _run(instance, commands["covered"]).splitlines()]
    assert covered == [e.content for e in reversed(change.signatures)]
    released = _run(instance, commands["released"]).strip()
    assert set(covered) == {released} == {instance.catalog.revision(change.doc_id, 1).blob}

    day = commands["register"].split("--before='", 1)[1].split()[0]
    on_main = {line.rsplit("/", 1)[1][:-3] for line in _run(instance, commands["register"]).splitlines()}
    register = instance.catalog.master_list(date.fromisoformat(day), include_obsolete=True)
    assert on_main == {s.doc_id for s in register if s.status != "obsolete"}
    assert len(on_main) >= 5


def test_the_evidence_package_of_the_demo_checks_itself(demo, tmp_path):
    """Issue 30: `docctl evidence` on the demo, unpacked, `sh check` with PATH=/usr/bin:/bin."""
    import shutil
    import zipfile

    from click.testing import CliRunner

    from docctl.cli import main

    if not all(shutil.which(t) for t in ("ssh-keygen", "sha256sum")):
        pytest.skip("ssh-keygen and sha256sum are needed to run the package's check")
    instance, _ = demo
    out = tmp_path / "evidence.zip"
    result = CliRunner().invoke(main, ["--instance", str(instance.root), "evidence", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        archive.extractall(tmp_path)
    check = subprocess.run(
        ["sh", str(tmp_path / "evidence" / "check")], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert check.returncode == 0, check.stdout + check.stderr
    register = (tmp_path / "evidence" / "register.csv").read_text()
    assert register.count("\n") == len(instance.catalog.master_list(instance.today())) + 1


def test_every_api_answer_matches_its_description_field_by_field(demo):
    """Issue 32, item 4: the served OpenAPI document describes each success body field by field,
    and the demo's real answers — obsolete, pending and migrated documents, drafts, signed
    changes — match it (jsonschema, as schemathesis checks the served API in CI)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    from docctl.web import build_app

    instance, _ = demo
    client = build_app(instance, {"TESTING": True}).test_client()
    auth = {"Authorization": f"Bearer {instance.users.create_token('pmazur')}"}
    spec = client.get("/api/v1/openapi.json").get_json()
    registry = Registry().with_resource("urn:docctl", DRAFT202012.create_resource(spec))

    def check(method: str, route: str, url: str, **kw) -> dict:
        answer = client.open(url, method=method.upper(), headers=auth, **kw)
        assert answer.status_code < 300, (url, answer.get_json())
        described = spec["paths"][route][method]["responses"][str(answer.status_code)]
        schema = described["content"]["application/json"]["schema"]
        assert "$ref" in schema, route  # a named model, not a bare "object"
        validator = Draft202012Validator({"$ref": "urn:docctl" + schema["$ref"]}, registry=registry)
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(answer.get_json())
        ]
        assert not errors, (url, errors[:5])
        return answer.get_json()

    api = "/api/v1"
    for obsolete in ("0", "1"):
        check("get", "/documents", f"{api}/documents?obsolete={obsolete}")
    for doc_id in ("P-01", "IR-03", "DZ-01"):
        check("get", "/documents/{doc_id}", f"{api}/documents/{doc_id}")
        check("get", "/documents/{doc_id}/revisions", f"{api}/documents/{doc_id}/revisions")
        check("get", "/documents/{doc_id}/revisions/{number}", f"{api}/documents/{doc_id}/revisions/1")
    check("get", "/documents/{doc_id}/diff", f"{api}/documents/P-01/diff?from=1&to=2")
    check("get", "/documents/{doc_id}/acknowledgements", f"{api}/documents/P-01/acknowledgements")
    check("post", "/documents/{doc_id}/acknowledge", f"{api}/documents/P-01/acknowledge")
    check("get", "/documents/{doc_id}/acknowledgements", f"{api}/documents/P-01/acknowledgements")
    listed = check("get", "/changes", f"{api}/changes")["changes"]
    check("get", "/changes", f"{api}/changes?page=1")
    for change in listed:
        check("get", "/changes/{number}", f"{api}/changes/{change['number']}")
    check("get", "/reviews", f"{api}/reviews")
    check("get", "/search", f"{api}/search?q=audytów")
    check("get", "/search", f"{api}/search?q=audyt&scope=all")
    check("get", "/search", f"{api}/search?q=audyt&scope=drafts")
    check("get", "/search", f"{api}/search?q=nicnieznaleziono")
    check("get", "/audit/events", f"{api}/audit/events")
    check("get", "/audit/verify", f"{api}/audit/verify")
    check("get", "/openapi.json", f"{api}/openapi.json")
    # the writing steps' answers
    opened = check(
        "post", "/changes", f"{api}/changes", json={"document_id": "P-02", "markdown": "# X\n\nY\n", "reason": "Z"}
    )
    edited = check(
        "put",
        "/changes/{number}",
        f"{api}/changes/{opened['number']}",
        json={"markdown": "# X\n\nY2\n", "head": opened["head"]},
    )
    assert edited["head"] != opened["head"]
    check("post", "/changes/{number}/submit", f"{api}/changes/{opened['number']}/submit")
    check("post", "/changes/{number}/cancel", f"{api}/changes/{opened['number']}/cancel", json={"comment": "test"})
