"""What a verification found: the problems, each with its commit, and what was checked."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    commit: str
    problem: str
    document_id: str | None = None

    def as_json(self) -> dict:
        data = {"commit": self.commit, "problem": self.problem}
        if self.document_id:
            data["document_id"] = self.document_id
        return data


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    commits: int = 0
    releases: int = 0
    signatures: int = 0
    migrations: int = 0  # documents brought in as approved on paper (issue 13)
    signed_commits: int = 0  # commits whose git SSH signature was checked (issue 29)
    signed_from: str | None = None  # the first signed commit: earlier history predates signing
    notes: list[str] = field(default_factory=list)  # facts for the auditor, not problems
    # Incremental (issue 30): the history before ``since`` (main's head at the last verified
    # anchor) was verified then and is skipped; ``state`` is what a new verified anchor records.
    mode: str = "full"
    since: str | None = None
    since_at: str | None = None
    skipped: int = 0
    advanced: bool = True  # main or a change branch moved since ``since``: worth a new anchor
    state: dict | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        return {
            "ok": self.ok,
            "checked": {
                "commits": self.commits,
                "releases": self.releases,
                "signatures": self.signatures,
                "migrations": self.migrations,
                "signed_commits": self.signed_commits,
            },
            "mode": self.mode,
            "since": self.since,
            "skipped_commits": self.skipped,
            "signed_from": self.signed_from,
            "notes": self.notes,
            "problems": [p.as_json() for p in self.problems],
        }
