"""The evidence package (issue 30): what a certification body takes home and checks on its own.

One zip: the register as of a day, the change record (karta zmian) of every document in force
then, who confirmed reading what, the verify report, the signers' keys, the history of ``main`` up
to that day as a git bundle, and ``MANIFEST.sha256`` signed by the instance's key. Its ``check``
script needs git, ssh-keygen and sha256sum only — no docctl, no network.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..core.commits import Commit
from ..derived.catalog import Catalog, DocumentState
from ..stores.git import GitStore
from .readership import confirmation_report

# The manifest is signed in git's namespace, the only one allowed_signers grants (a manifest's
# bytes can never pass for a commit's, so the two uses do not mix).
NAMESPACE = "git"
REGISTER_COLUMNS = ("id", "title", "type", "unit", "revision", "effective_date", "review_due", "status")


@dataclass(frozen=True)
class EvidenceReport:
    path: Path
    as_of: date
    main: str
    documents: int
    files: int
    size: int


def build(
    out: Path,
    *,
    store: GitStore,
    catalog: Catalog,
    main_as_of: Commit,
    as_of: date,
    unit: str | None,
    people: Iterable,
    confirmations_of: Callable[[list[str]], Iterable],
    verify_report,
    allowed_signers: str,
    principal: str,
    sign: Callable[[bytes], str],
    fingerprint: str,
    signed_from: str | None,
) -> EvidenceReport:
    """Write the package to ``out`` (a zip); ``sign``: the instance's SSHSIG of a file's bytes."""
    states = [s for s in catalog.master_list(as_of) if unit is None or s.shown.unit == unit]
    files: dict[str, bytes] = {
        "register.csv": _register(states),
        "change-records.csv": _change_records(catalog, states, as_of),
        "confirmations.csv": _confirmations(states, list(people), confirmations_of, unit),
        "verify.txt": _verify_text(verify_report).encode(),
        "verify.json": json.dumps(verify_report.as_json(), indent=2, ensure_ascii=False).encode(),
        "allowed_signers": allowed_signers.encode(),
        "README.txt": _readme(as_of, unit, main_as_of, principal, fingerprint).encode(),
        "check": _check_script(principal, signed_from).encode(),
    }
    bundle = out.with_suffix(".bundle.tmp")
    store.bundle(bundle, main_as_of.sha)
    try:
        digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        digests["history.bundle"] = _sha256_file(bundle)
        manifest = "".join(f"{digests[name]}  {name}\n" for name in sorted(digests)).encode()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
            for name, data in files.items():
                info = zipfile.ZipInfo(f"evidence/{name}", date_time=(2000, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if name == "check" else 0o644) << 16
                package.writestr(info, data, zipfile.ZIP_DEFLATED)
            package.write(bundle, "evidence/history.bundle", zipfile.ZIP_STORED)  # a pack: compressed already
            package.writestr("evidence/MANIFEST.sha256", manifest)
            package.writestr("evidence/MANIFEST.sha256.sig", sign(manifest))
    finally:
        bundle.unlink(missing_ok=True)
    return EvidenceReport(out, as_of, main_as_of.sha, len(states), len(files) + 3, out.stat().st_size)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _csv(header: Iterable[str], rows: Iterable[Iterable]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _register(states: list[DocumentState]) -> bytes:
    rows = [s.register_row() for s in states]
    return _csv(REGISTER_COLUMNS, ([row[c] for c in REGISTER_COLUMNS] for row in rows))


def _change_records(catalog: Catalog, states: list[DocumentState], as_of: date) -> bytes:
    """Karta zmian: every revision of every document in force, oldest first, as released by then."""
    rows = []
    for state in states:
        for rev in reversed(catalog.revisions(state.doc_id)):
            if rev.released_at.date() > as_of:
                continue
            approvals = "; ".join(
                f"{s.name} ({s.role}, {s.meaning}, {s.signed_at.date().isoformat()})" for s in rev.signatures
            )
            rows.append(
                (
                    rev.doc_id,
                    rev.revision,
                    rev.effective_date.isoformat(),
                    rev.released_at.date().isoformat(),
                    rev.reason,
                    rev.prepared_by,
                    approvals or ("approved on paper (migrated)" if rev.migrated else ""),
                    rev.change or "",
                    rev.commit,
                )
            )
    header = ("document", "revision", "effective", "released", "reason", "prepared_by", "approved_by")
    return _csv((*header, "change", "commit"), rows)


def _confirmations(states, people, confirmations_of, unit) -> bytes:
    acks: dict[str, list] = {}
    for ack in confirmations_of([s.doc_id for s in states]):
        acks.setdefault(ack.document_id, []).append(ack)
    rows = []
    for state in states:
        report = confirmation_report(state, people, acks.get(state.doc_id, []), unit=unit)
        if report is None:
            continue
        for done in report.confirmed:
            rows.append(
                (done.unit, state.doc_id, report.revision, done.login, done.name, "confirmed", done.at.isoformat())
            )
        for missing in report.missing:
            rows.append((missing.unit, state.doc_id, report.revision, missing.login, missing.name, "missing", ""))
    return _csv(("unit", "document", "revision", "login", "name", "status", "confirmed_at"), sorted(rows))


def _verify_text(report) -> str:
    lines = [f"PROBLEM {p.commit[:12] or '-'} {p.problem}" for p in report.problems]
    lines += [f"NOTE {note}" for note in report.notes]
    verdict = "the history holds" if report.ok else f"{len(report.problems)} problem(s)"
    checked = report.as_json()["checked"]
    lines.append(f"Checked {checked['commits']} commits, {checked['releases']} releases, {verdict}.")
    return "\n".join(lines) + "\n"


def _readme(as_of: date, unit: str | None, main: Commit, principal: str, fingerprint: str) -> str:
    scope = f"unit {unit}" if unit else "all units"
    return f"""docctl — pakiet dowodowy / evidence package
Stan na / as of: {as_of.isoformat()} ({scope}); main: {main.sha}
Klucz instancji / instance key: {principal} {fingerprint}

PL
Sprawdzenie (potrzebne tylko git, ssh-keygen i sha256sum, bez sieci):  sh check
check sprawdza sumy plików z MANIFEST.sha256, podpis manifestu kluczem instancji, rozpakowuje
historię (history.bundle) i sprawdza podpis każdego commitu według allowed_signers.
  register.csv         rejestr dokumentów na dzień {as_of.isoformat()}
  change-records.csv   karty zmian: każde wydanie każdego obowiązującego dokumentu
  confirmations.csv    potwierdzenia zapoznania się: kto potwierdził, kogo brakuje
  verify.txt / .json   raport docctl verify
  allowed_signers      klucze podpisujących (format git)
  history.bundle       historia main do tego dnia (git clone history.bundle)
  MANIFEST.sha256(.sig) sumy SHA-256 wszystkich plików i ich podpis kluczem instancji
Porównaj odcisk klucza instancji powyżej z tym, który podał urząd.

EN
To check (git, ssh-keygen and sha256sum only, no network):  sh check
check verifies every file against MANIFEST.sha256, the manifest's signature by the instance's
key, unbundles the history (history.bundle) and verifies every commit's signature against
allowed_signers.
  register.csv         the register of documents as of {as_of.isoformat()}
  change-records.csv   change records: every revision of every document in force
  confirmations.csv    read confirmations: who confirmed, who has not
  verify.txt / .json   docctl verify's report
  allowed_signers      the signers' keys (git's format)
  history.bundle       main's history up to that day (git clone history.bundle)
  MANIFEST.sha256(.sig) SHA-256 of every file and its signature by the instance's key
Compare the instance key's fingerprint above with the one the office gave you.
"""


def _check_script(principal: str, signed_from: str | None) -> str:
    # Commits from before signing began (an instance older than issue 29) are not asked for one.
    older = f"--not $(git --git-dir=\"$work/history.git\" rev-parse '{signed_from}^@')" if signed_from else ""
    return f"""#!/bin/sh
# docctl evidence package: checks itself with git, ssh-keygen and sha256sum alone (no network).
set -eu
cd "$(dirname "$0")"
echo "1/4 every file against MANIFEST.sha256"
sha256sum --check --quiet --strict MANIFEST.sha256
echo "2/4 the manifest's signature by the instance key ({principal})"
ssh-keygen -Y verify -f allowed_signers -I '{principal}' -n {NAMESPACE} -s MANIFEST.sha256.sig < MANIFEST.sha256
echo "3/4 the history"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
git init --quiet --bare "$work/history.git"
git --git-dir="$work/history.git" fetch --quiet "$PWD/history.bundle" "refs/heads/main:refs/heads/main"
echo "4/4 the signature of every commit"
bad=$(TZ=UTC git --git-dir="$work/history.git" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$PWD/allowed_signers" \\
  log --format='%H %G?' main {older} | grep -v ' G$' || true)
if [ -n "$bad" ]; then
  echo "commits without a good signature:"
  echo "$bad"
  exit 1
fi
echo "OK: the package is intact, signed by the instance, and every commit of its history is signed."
"""
