"""``docctl demo``: an instance with real history, replayed from ``docs_repo/`` through the workflow.

Nothing is faked: every revision of the sample set is opened as a change, edited, submitted and
signed by the demo people on its historical date (the clock is injected), so the demo's git
history is exactly what production would write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from ..assets import asset_dir
from ..core.documents import parse_document
from ..core.policy import POLICY_PATH, parse_policy
from .instance import Instance


class DemoClock:
    """A clock the demo moves to each historical date, then hands back to real time."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(UTC)

    def set_day(self, day: date, hour: int, tz: ZoneInfo) -> None:
        self.fixed = datetime.combine(day, time(hour, 0), tz)


def build_demo(
    target: Path, source: Path | None = None, progress: Callable[[str], None] | None = None
) -> tuple[Instance, list[dict]]:
    """Create the demo instance in ``target``; returns it and the demo people (with passwords)."""
    source = source or asset_dir("docs_repo")
    spec = yaml.safe_load((source / "demo.yaml").read_text(encoding="utf-8"))
    policy = parse_policy((source / POLICY_PATH).read_text(encoding="utf-8"))
    people = spec["people"]
    admin = next(p for p in people if "admin" in p["roles"])
    clock = DemoClock()
    tz = ZoneInfo("Europe/Warsaw")
    history = spec.get("history") or []
    first_day = min((_day(step["date"]) for step in history), default=date.today())
    clock.set_day(first_day, 8, tz)
    instance = Instance.create(
        target,
        admin_login=admin["login"],
        admin_password=admin["password"],
        admin_name=admin["name"],
        admin_email=admin["email"],
        policy=policy,
        clock=clock,
    )
    for person in people:
        if person["login"] != admin["login"]:
            instance.users.add(
                person["login"],
                name=person["name"],
                email=person["email"],
                roles=person["roles"],
                units=person.get("units") or [],
                password=person["password"],
            )
    users = {p["login"]: instance.users.get(p["login"]) for p in people}
    passwords = {p["login"]: p["password"] for p in people}
    workflow = instance.workflow
    for step in history:
        day = _day(step["date"])
        clock.set_day(day, 9, tz)
        if "review" in step:
            workflow.review(
                users[step["reviewer"]], step["review"], password=passwords[step["reviewer"]], comment=step["comment"]
            )
            if progress:
                progress(f"review {step['review']}")
            continue
        author = users[step["author"]]
        if "withdraw" in step:
            change = workflow.withdraw(author, step["withdraw"], reason=step["reason"])
            label = f"withdraw {step['withdraw']}"
        else:
            text = (source / step["source"]).read_text(encoding="utf-8")
            doc_id = parse_document(text).meta.id
            change = workflow.create(author, doc_id=doc_id, markdown=text, reason=step["reason"])
            workflow.submit(author, change.number)
            label = f"{doc_id} {step['source']}"
        for hour, signer in enumerate(step["signers"], start=11):
            clock.set_day(day, hour, tz)
            change = workflow.approve(users[signer], change.number, password=passwords[signer])
        if progress:
            progress(label)
    for step in spec.get("pending") or []:
        text = (source / step["source"]).read_text(encoding="utf-8")
        author = users[step["author"]]
        change = workflow.create(author, doc_id=parse_document(text).meta.id, markdown=text, reason=step["reason"])
        if step.get("state", "draft") == "in_review":
            workflow.submit(author, change.number)
    clock.fixed = None
    instance.indexer.rebuild()
    return instance, people


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
