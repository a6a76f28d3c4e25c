"""The ``docctl`` command: thin click commands over the same core functions the web uses.

Domain errors become one-line messages with a non-zero exit (``click.ClickException``).
"""

from __future__ import annotations

import functools
import getpass
import os
import sys
import tempfile
import time
from pathlib import Path

import click

from .core.errors import DocctlError


def _instance_dir(ctx: click.Context) -> Path:
    return Path(ctx.obj["instance"]).resolve()


def _open(ctx: click.Context):
    from .ops.instance import Instance

    return Instance(_instance_dir(ctx))


def domain_errors(func):
    """Translate domain errors once, at the CLI edge."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DocctlError as exc:
            raise click.ClickException(exc.message) from None

    return wrapper


def _read_password(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


class _Admin:
    """The person the CLI acts as for recorded commits (``unit add``): the instance's service."""

    def __init__(self, name: str, email: str) -> None:
        self.login, self.name, self.email = "cli", name, email
        self.roles, self.units = frozenset({"admin"}), frozenset()


@click.group()
@click.option(
    "--instance",
    "instance",
    envvar="DOCCTL_INSTANCE",
    default="instance",
    show_default=True,
    help="Instance folder (or DOCCTL_INSTANCE).",
)
@click.version_option(package_name="docctl")
@click.pass_context
def main(ctx: click.Context, instance: str) -> None:
    """docctl — document control for ISO 9001 (procedures in git, signed approvals, search)."""
    ctx.ensure_object(dict)
    ctx.obj["instance"] = instance


@main.command()
@click.option("--admin-user", default="admin", show_default=True, help="Login of the first administrator.")
@click.option("--admin-password-stdin", is_flag=True, help="Read the admin password from standard input.")
@click.option("--admin-name", default="Administrator", show_default=True)
@click.option("--admin-email", default="admin@localhost", show_default=True)
@click.pass_context
@domain_errors
def init(ctx, admin_user, admin_password_stdin, admin_name, admin_email):
    """Create a new instance: repository, policy, secret key, first admin."""
    from .ops.instance import Instance

    password = _read_password(admin_password_stdin, "Admin password")
    root = _instance_dir(ctx)
    Instance.create(
        root, admin_login=admin_user, admin_password=password, admin_name=admin_name, admin_email=admin_email
    )
    click.echo(f"Initialized docctl instance in {root} (admin: {admin_user}).")


@main.command()
@click.argument("directory", required=False)
@click.pass_context
@domain_errors
def demo(ctx, directory):
    """Create a demo instance from the sample documents, with history and demo logins."""
    target = Path(directory or _instance_dir(ctx)).resolve()
    _build_demo(target)


def _build_demo(target: Path):
    from .ops.demo import build_demo

    with click.progressbar(length=1, label="Replaying sample history", show_eta=False) as bar:

        def step(label: str) -> None:
            bar.label = f"Released {label}"
            bar.length = (bar.length or 0) + 1
            bar.update(1)

        instance, people = build_demo(target, progress=step)
    click.echo(f"Demo instance ready in {target}")
    click.echo("Demo logins (login / password — roles):")
    for person in people:
        units = f" [{', '.join(person.get('units') or [])}]" if person.get("units") else ""
        click.echo(f"  {person['login']:<12} {person['password']:<24} {', '.join(person['roles'])}{units}")
    return instance


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Threads per worker process.")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Server processes (default: the number of cores). 1: one waitress process.",
)
@click.option("--demo", "demo_mode", is_flag=True, help="Serve a fresh demo instance (in a temporary folder).")
@click.pass_context
@domain_errors
def serve(ctx, host, port, threads, workers, demo_mode):
    """Serve the web interface and API with production WSGI servers (gunicorn, or waitress for one process)."""
    root = _instance_dir(ctx)
    if demo_mode:
        root = Path(tempfile.mkdtemp(prefix="docctl-demo-")) / "instance"
        _build_demo(root)
    workers = workers or os.cpu_count() or 1
    click.echo(f"docctl serving {root} on http://{host}:{port}/ ({workers} process(es) × {threads} threads)")
    from . import create_app
    from .ops.server import serve as run_server

    run_server(create_app, root, host=host, port=port, workers=workers, threads=threads)


@main.group()
def unit():
    """Organizational units (in the policy file, as recorded commits)."""


@unit.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.pass_context
@domain_errors
def unit_add(ctx, code, name):
    """Add a unit to the policy file: a recorded commit on main."""
    instance = _open(ctx)
    actor = _Admin(instance.settings["SERVICE_NAME"], instance.settings["SERVICE_EMAIL"])
    commit = instance.workflow.add_unit(actor, code, name)
    click.echo(f"Unit {code} added ({commit[:10]}).")


@main.group()
def user():
    """People and their roles."""


@user.command("add")
@click.argument("login")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="reader, author, approver, quality_manager, auditor, admin (repeat for several)",
)
@click.option("--unit", "units", multiple=True, help="Unit code (repeat for several).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
@domain_errors
def user_add(ctx, login, name, email, roles, units, password_stdin):
    """Add a person."""
    instance = _open(ctx)
    known = instance.workflow.policy().units
    for code in units:
        if code not in known:
            raise click.ClickException(f"unknown unit {code}: add it first with `docctl unit add`")
    password = _read_password(password_stdin, "Password")
    instance.users.add(login, name=name, email=email, roles=list(roles), units=list(units), password=password)
    unit_list = ", ".join(sorted(units)) or "-"
    instance.users.record(_cli_actor(), login, "created", f"roles {', '.join(sorted(roles))}; units {unit_list}")
    click.echo(f"User {login} added with roles {', '.join(roles)}.")


@user.command("grant")
@click.argument("login")
@click.option("--role", "roles", multiple=True, help="Role to add (repeat for several).")
@click.option("--unit", "units", multiple=True, help="Unit to add (repeat for several).")
@click.option("--by", "actor", default=None, help="Who grants it (recorded; default: the system user).")
@click.pass_context
@domain_errors
def user_grant(ctx, login, roles, units, actor):
    """Give a person more roles or units (recorded), e.g. a second quality manager to sign."""
    instance = _open(ctx)
    known = instance.workflow.policy().units
    for code in units:
        if code not in known:
            raise click.ClickException(f"unknown unit {code}: add it first with `docctl unit add`")
    person = instance.users.grant(login, roles=roles, units=units, actor=actor or _cli_actor())
    units_now = ", ".join(sorted(person.units)) or "-"
    click.echo(f"User {login} now has roles {', '.join(sorted(person.roles))} and units {units_now}.")


@user.command("reset-password")
@click.argument("login")
@click.option(
    "--password-stdin", is_flag=True, help="Read the temporary password from standard input (default: e-mail one)."
)
@click.pass_context
@domain_errors
def user_reset_password(ctx, login, password_stdin):
    """A temporary password, e-mailed to the person (or read from stdin); their signing key is closed."""
    instance = _open(ctx)
    chosen = _read_password(True, "") if password_stdin else None
    instance.accounts.reset_password(_cli_actor(), login, chosen)
    sent = "" if chosen else f" A temporary password was sent to {instance.users.get(login).email}."
    click.echo(f"Password of {login} reset; they must set a new one before they can sign.{sent}")


def _as_of(value: str | None):
    """``--as-of YYYY-MM-DD`` as a date (None when not given)."""
    from datetime import date

    from .core.errors import Invalid

    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise Invalid("--as-of must be a date as YYYY-MM-DD") from None


def _cli_actor() -> str:
    """Who acted, for the account journal, when a change comes from the command line."""
    return f"cli:{getpass.getuser()}"


@main.group()
def token():
    """API tokens."""


@token.command("create")
@click.argument("login")
@click.option("--label", default="", help="What the token is for.")
@click.pass_context
@domain_errors
def token_create(ctx, login, label):
    """Print a new API token for LOGIN (the last line of output; shown only once)."""
    instance = _open(ctx)
    value = instance.users.create_token(login, label=label)
    click.echo(f"API token for {login} (store it now; it is not shown again):")
    click.echo(value)


@token.command("revoke")
@click.argument("login")
@click.option("--label", default=None, help="Only the tokens with this label (default: all of LOGIN's).")
@click.pass_context
@domain_errors
def token_revoke(ctx, login, label):
    """Revoke LOGIN's API tokens at once (recorded in the account journal)."""
    instance = _open(ctx)
    revoked = instance.accounts.revoke_tokens(_cli_actor(), login, label=label)
    click.echo(f"Revoked {revoked} token(s) of {login}.")


@token.command("list")
@click.argument("login")
@click.pass_context
@domain_errors
def token_list(ctx, login):
    """LOGIN's tokens: label, created, last used (and from where), revoked."""
    instance = _open(ctx)
    instance.users.get(login)
    for t in instance.users.list_tokens(login):
        used = f"last used {t['last_used_at']} from {t['last_used_from'] or '?'}" if t["last_used_at"] else "never used"
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
        click.echo(f"{t['id']:>4}  {t['label'] or '-':20s}  created {t['created_at']}  {used}  {state}")


@main.command()
@click.pass_context
@domain_errors
def reindex(ctx):
    """Rebuild the catalog, the change index and both search indexes from git."""
    from .ops.reindexing import rebuild_the_rest, rebuild_until_searchable

    instance = _open(ctx)
    click.echo("Reading the catalog and the change index from git...")
    done = rebuild_until_searchable(instance)
    click.echo(
        f"Catalog ({done.main_records} records on main), change index ({done.changes} changes) and"
        f" {done.current_entries} current search entries rebuilt in {done.seconds:.1f} s; search is ready."
    )
    started = time.monotonic()
    # the bar counts the revisions indexed, at most one per record on main
    with click.progressbar(length=max(done.main_records, 1), label="Audit trail, older files, all revisions") as bar:
        rest = rebuild_the_rest(instance, progress=lambda n: bar.update(1))
    click.echo(
        f"Audit trail ({rest.main_records} records on main, the steps of {rest.changes} changes),"
        f" {rest.files} older releases' files and {rest.revisions} revisions (scope=all) read from git"
        f" in {time.monotonic() - started:.1f} s, from {instance.catalog.recorded_commit()[:10]}."
    )


@main.group()
def export():
    """Export registers (master list) for auditors and paper files."""


REGISTER_COLUMNS = ("id", "title", "type", "unit", "revision", "effective_date", "review_due", "status")


@export.command("master-list")
@click.option("--as-of", "as_of", default=None, help="YYYY-MM-DD: the register as it stood that day (default: today)")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--obsolete/--no-obsolete", default=True, help="include withdrawn documents (default: yes)")
@click.pass_context
@domain_errors
def export_master_list(ctx, as_of, fmt, obsolete):
    """Print the master list of documents (CSV or JSON) as it stood on a date."""
    import csv
    import io
    import json

    instance = _open(ctx)
    at = _as_of(as_of) or instance.today()
    instance.catalog.catch_up()
    rows = [s.register_row() for s in instance.catalog.master_list(at, include_obsolete=obsolete)]
    if fmt == "json":
        click.echo(json.dumps({"as_of": at.isoformat(), "documents": rows}, indent=2, ensure_ascii=False))
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REGISTER_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    click.echo(buffer.getvalue(), nl=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON (as GET /api/v1/audit/verify)")
@click.option("--full", is_flag=True, help="check the whole history, not only what came after the last verified anchor")
@click.pass_context
@domain_errors
def verify(ctx, as_json, full):
    """Check the history from git: exit 0 only when nothing bypassed the workflow.

    Without --full, the git history before the last verified anchor (written by the last check
    that found nothing wrong) is skipped; the journals and every anchored head are always checked."""
    import json

    instance = _open(ctx)
    started = time.monotonic()
    report = instance.verify(full=full, progress=lambda line: None if as_json else click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        for problem in report.problems:
            where = f" [{problem.document_id}]" if problem.document_id else ""
            click.echo(f"PROBLEM {problem.commit[:12] or '-':12}{where} {problem.problem}")
        for note in report.notes:
            click.echo(f"NOTE {note}")
        verdict = "the history holds" if report.ok else f"{len(report.problems)} problem(s)"
        click.echo(
            f"Checked {report.commits} {'new ' if report.mode == 'incremental' else ''}commits, "
            f"{report.releases} releases and withdrawals, "
            f"{report.migrations} migrations from paper, {report.signatures} signatures, "
            f"{report.signed_commits} commit signatures "
            f"in {time.monotonic() - started:.1f} s: {verdict}."
        )
    ctx.exit(0 if report.ok else 1)


@main.command()
@click.option("--no-daily", is_flag=True, help="Only send what is queued; skip the look for reviews due and copies.")
@click.pass_context
@domain_errors
def notify(ctx, no_daily):
    """Send the e-mail notifications and digests that are due (for cron or a systemd timer)."""
    from .mail.delivery import deliver

    instance = _open(ctx)
    result = deliver(instance, instance.outbox, daily=not no_daily)
    counts = instance.outbox.counts()
    click.echo(
        f"queued {result.queued}, sent {result.sent} message(s) and {result.digests} digest(s); "
        f"{result.retry} to retry, {result.failed} refused; outbox: "
        + (", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "empty")
    )
    if not instance.settings["SMTP_HOST"]:
        click.echo("SMTP_HOST is not set: nothing is sent, messages wait in the outbox.")
    for error in result.errors:
        click.echo(f"mail server: {error}", err=True)
    if result.errors:
        ctx.exit(1)


@main.command()
@click.pass_context
@domain_errors
def sync(ctx):
    """Fetch from and push to GIT_REMOTE; catch up the catalog, change index and search index."""
    instance = _open(ctx)
    report = instance.sync()
    click.echo(
        f"pulled {len(report.pulled)} ref(s), pushed {len(report.pushed)}; "
        f"still only here: {len(report.ahead)}; diverged: {len(report.diverged)}"
    )
    for ref in report.diverged:
        click.echo(f"DIVERGED {ref}: both this node and the remote wrote; nothing was overwritten", err=True)
    for line in report.moved_back:
        click.echo(f"MOVED BACK {line}", err=True)
    if report.error:
        click.echo(f"git remote: {report.error}", err=True)
    if report.error or report.diverged or report.moved_back:
        ctx.exit(1)


@main.group()
def db():
    """The database of people, tokens, confirmations and the outbox (SQLite or DATABASE_URL)."""


@db.command("upgrade")
@click.pass_context
@domain_errors
def db_upgrade(ctx):
    """Apply pending migrations (serve also applies them on start-up)."""
    instance = _open(ctx)
    click.echo(f"database: {instance.databases['accounts'].describe()}")
    for component, before, after in instance.upgrade_databases():
        click.echo(f"{component}: version {after}" + (f" (was {before})" if before != after else " (up to date)"))


@db.command("copy")
@click.pass_context
@domain_errors
def db_copy(ctx):
    """Copy this instance's SQLite records into the empty PostgreSQL database DATABASE_URL."""
    instance = _open(ctx)
    report = instance.copy_sqlite_records()
    for table, rows in report.rows.items():
        click.echo(f"{table}: {rows} row(s)")
    click.echo(f"copied {report.total} row(s) into {instance.databases['accounts'].describe()}")


@main.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV: file,id,title,type,unit,effective_date,review_months",
)
@click.option("--dry-run", is_flag=True, help="Only report what would be imported, and every guess.")
@click.option("--as", "login", default=None, help="Who imports (an author or quality manager): the drafts' author.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--migrate",
    is_flag=True,
    help="Record each as in force, approved on paper (--as a quality manager, whose password attests it).",
)
@click.option("--password-stdin", is_flag=True, help="With --migrate: read the password from standard input.")
@click.pass_context
@domain_errors
def import_files(ctx, files, mapping, dry_run, login, as_json, migrate, password_stdin):
    """Bring .docx / .odt / .md documents in as draft changes, with their figures."""
    import json

    from .adoption.conversion import plan_import, read_mapping
    from .adoption.recording import record_plans

    instance = _open(ctx)
    if not dry_run and not login:
        raise click.ClickException("say who imports with --as LOGIN (or look first with --dry-run)")
    actor = instance.users.get(login) if login else None
    rows = read_mapping(mapping) if mapping else None
    units = instance.workflow.policy().units
    plans = [plan_import(path, mapping=rows, units=units) for path in files]
    if dry_run:
        report = [{**plan.as_json(), "change": None} for plan in plans]
    else:
        password = None
        if migrate:
            password = (
                sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt("Password", hide_input=True)
            )
        results = record_plans(instance.workflow, actor, plans, migrate_password=password)
        report = [result.as_json() for result in results]
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for entry in report:
            _echo_import(entry, dry_run)
    failed = [e for e in report if not e["ready"] or e.get("import_error")]
    click.echo(f"{len(report) - len(failed)} of {len(report)} file(s) {'ready' if dry_run else 'imported'}.")
    if failed:
        ctx.exit(1)


def _echo_import(entry: dict, dry_run: bool) -> None:
    if entry.get("change"):
        head = f"change {entry['change']}"
    elif entry.get("migrated"):
        head = f"migrated (in force, approved on paper): {entry['migrated'][:12]}"
    elif entry["ready"] and not entry.get("import_error"):
        head = "ready" if dry_run else "imported"
    else:
        head = "NOT IMPORTED"
    what = f"{entry['id'] or '?'} {entry['title'] or ''} ({entry['type'] or '?'}, {entry['unit'] or '?'})"
    click.echo(f"{entry['file']}: {head} — {what}")
    for figure in entry["figures"]:
        click.echo(f"  figure {figure}")
    for line in entry["guesses"]:
        click.echo(f"  guessed {line}")
    for line in entry["warnings"]:
        click.echo(f"  warning: {line}")
    if entry["missing"]:
        click.echo(f"  missing (give it in --map): {', '.join(entry['missing'])}")
    for problem in (entry["error"], entry.get("import_error")):
        if problem:
            click.echo(f"  error: {problem}")


@main.command()
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--as-of", "as_of", default=None, help="YYYY-MM-DD: the day the package shows (default: today)")
@click.option("--unit", default=None, help="only the documents of this owning unit")
@click.pass_context
@domain_errors
def evidence(ctx, out, as_of, unit):
    """The package for an external auditor: register, change records, confirmations, verify report,
    signers, history bundle, signed manifest and a `check` script (git, ssh-keygen, sha256sum)."""
    instance = _open(ctx)
    started = time.monotonic()
    made = instance.evidence(out, as_of=_as_of(as_of), unit=unit)
    click.echo(
        f"{made.path}: {made.documents} documents as of {made.as_of}, main {made.main[:12]}, "
        f"{made.size / 1e6:.1f} MB in {time.monotonic() - started:.1f} s. Check it with: unzip, then sh evidence/check"
    )


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
@domain_errors
def backup(ctx, out):
    """Copy everything this instance holds into the new folder OUT, consistently while it serves:
    the repository (bundle and reflogs), the databases (SQLite's backup API or pg_dump), the
    settings and keys, and MANIFEST.sha256. For cron: docctl backup /srv/backup/docctl-$(date +%F)."""
    from .ops.backup import backup as make_backup

    made = make_backup(_open(ctx), out, progress=lambda line: click.echo(line, err=True))
    size = sum(made.sizes.values())
    click.echo(
        f"{made.folder}: main {made.main[:12]}, {made.refs} refs, {made.database} records, "
        f"{size / 1e6:.1f} MB in {made.seconds:.1f} s (writers waited {made.locked_seconds:.1f} s). "
        f"Check it with: cd {made.folder} && sha256sum -c MANIFEST.sha256"
    )


@main.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
@domain_errors
def restore(ctx, source):
    """Make a new instance (--instance, a new folder) from the backup folder SOURCE; its records go
    into DATABASE_URL when set (an empty PostgreSQL database), else into SQLite files. Derived
    data (catalog, search) is built at the first start; run `docctl verify --full` after."""
    from .ops.backup import restore as restore_backup

    made = restore_backup(source, _instance_dir(ctx), progress=lambda line: click.echo(line, err=True))
    counts = ", ".join(f"{n} {what}" for what, n in made.counts.items())
    click.echo(
        f"{made.root}: main {made.main[:12]}, {made.refs} refs, {made.database} records ({counts}) "
        f"in {made.seconds:.1f} s."
    )


@main.group()
def keys():
    """Signing keys: the instance's key and the signers' keys listed in .docctl/allowed_signers."""


@keys.command("list")
@click.pass_context
@domain_errors
def keys_list(ctx):
    """Every key allowed_signers lists on main: owner, fingerprint, validity (UTC)."""
    from .core.sshsig import fingerprint

    instance = _open(ctx)
    for key in instance.workflow.signers():
        since = key.valid_after.strftime("%Y-%m-%d %H:%M") if key.valid_after else "-"
        until = key.valid_before.strftime("%Y-%m-%d %H:%M") if key.valid_before else "open"
        click.echo(f"{key.principal:32} {fingerprint(key.raw)}  {since} .. {until}  {key.comment}")


@keys.command("rotate")
@click.pass_context
@domain_errors
def keys_rotate(ctx):
    """A new instance signing key: the old one closed in allowed_signers by a commit it signs."""
    from .core.sshsig import fingerprint, raw_key_of_line

    instance = _open(ctx)
    commit = instance.rotate_instance_key()
    now = fingerprint(raw_key_of_line(instance.instance_key.public_key))
    click.echo(f"Instance key rotated ({commit[:10]}): now {now}.")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
