"""The instance policy: organizational units, document types and who must sign what.

It lives in the documents repository (``.docctl/policy.yaml``) so that changing it is itself a
recorded commit (CONTRACT §1), and every release can be checked against the policy in force then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from .documents import TYPES, validate_unit_code
from .errors import Invalid

# The safe loader, from libyaml when installed (about 10x faster): no arbitrary objects.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

POLICY_PATH = ".docctl/policy.yaml"
ROLES = ("reader", "author", "approver", "quality_manager", "auditor", "admin")
MEANINGS = ("review", "approval")

DEFAULT_POLICY = {
    "units": {"KS": {"name": "Pełnomocnik ds. Systemu Zarządzania Jakością"}},
    "types": {
        "policy": {"name": "Polityka", "prefix": "PL"},
        "procedure": {"name": "Procedura", "prefix": "P"},
        "instruction": {"name": "Instrukcja", "prefix": "IR"},
        "form": {"name": "Formularz", "prefix": "F"},
        "external": {"name": "Dokument zewnętrzny", "prefix": "DZ"},
    },
    # CONTRACT §2: procedure/policy need an approver of the owning unit and a quality manager.
    "signatures": {
        "policy": [
            {"role": "approver", "scope": "unit", "meaning": "review"},
            {"role": "quality_manager", "meaning": "approval"},
        ],
        "procedure": [
            {"role": "approver", "scope": "unit", "meaning": "review"},
            {"role": "quality_manager", "meaning": "approval"},
        ],
        "instruction": [{"role": "approver", "scope": "unit", "meaning": "approval"}],
        "form": [{"role": "approver", "scope": "unit", "meaning": "approval"}],
        "external": [{"role": "quality_manager", "meaning": "approval"}],
    },
}


# Words the office uses for one thing (both spellings of "audyt" are in use): a search for one
# also finds the others. A policy without ``search.variants`` gets these.
DEFAULT_VARIANTS: tuple[tuple[str, ...], ...] = (
    ("audyt", "audit"),
    ("audytor", "auditor"),
    ("korekta", "korekcja"),
    ("niezgodność", "nieprawidłowość"),
)


@dataclass(frozen=True)
class Requirement:
    """One signature a release needs: a role, optionally of the document's own unit."""

    role: str
    meaning: str
    unit_scoped: bool = False

    def describe(self, unit: str) -> str:
        return f"{self.meaning}: {self.role}" + (f" of unit {unit}" if self.unit_scoped else "")


@dataclass(frozen=True)
class DocumentType:
    name: str
    prefix: str


@dataclass(frozen=True)
class Policy:
    units: dict[str, str]
    types: dict[str, DocumentType]
    signatures: dict[str, tuple[Requirement, ...]]
    variants: tuple[tuple[str, ...], ...] = DEFAULT_VARIANTS

    def requirements_for(self, doc_type: str) -> tuple[Requirement, ...]:
        return self.signatures.get(doc_type, ())

    def unit_name(self, code: str) -> str:
        return self.units.get(code, code)

    def with_unit(self, code: str, name: str) -> Policy:
        validate_unit_code(code)
        if code in self.units:
            raise Invalid("unit %(code)s already exists", code=code)
        if not name.strip() or "\n" in name:
            raise Invalid("a unit needs a one-line name")
        return Policy({**self.units, code: name.strip()}, self.types, self.signatures, self.variants)

    def to_yaml(self) -> str:
        data = {
            "units": {c: {"name": n} for c, n in self.units.items()},
            "types": {t: {"name": d.name, "prefix": d.prefix} for t, d in self.types.items()},
            "signatures": {
                t: [
                    {"role": r.role, **({"scope": "unit"} if r.unit_scoped else {}), "meaning": r.meaning} for r in reqs
                ]
                for t, reqs in self.signatures.items()
            },
            "search": {"variants": [list(group) for group in self.variants]},
        }
        header = "# docctl policy: organizational units, document types, required signatures.\n"
        return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def parse_policy(text: str | bytes) -> Policy:
    """Parse the policy file, reporting every problem at once (like a config schema)."""
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise Invalid("%(POLICY_PATH)s is not valid YAML: %(exc)s", POLICY_PATH=POLICY_PATH, exc=exc) from None
    if not isinstance(data, dict):
        raise Invalid("%(POLICY_PATH)s must be a mapping with units, types and signatures", POLICY_PATH=POLICY_PATH)
    problems: list[str] = []
    units: dict[str, str] = {}
    for code, spec in (data.get("units") or {}).items():
        try:
            validate_unit_code(code)
        except Invalid as exc:
            problems.append(exc.message)
            continue
        name = spec.get("name") if isinstance(spec, dict) else spec
        if not isinstance(name, str) or not name.strip():
            problems.append(f"unit {code} has no name")
        else:
            units[code] = name.strip()
    types: dict[str, DocumentType] = {}
    for doc_type, spec in (data.get("types") or {}).items():
        if doc_type not in TYPES:
            problems.append(f"unknown document type {doc_type!r}")
            continue
        spec = spec or {}
        types[doc_type] = DocumentType(str(spec.get("name", doc_type)), str(spec.get("prefix", "")))
    signatures: dict[str, tuple[Requirement, ...]] = {}
    for doc_type, reqs in (data.get("signatures") or {}).items():
        parsed = []
        for req in reqs or []:
            role, meaning = req.get("role"), req.get("meaning", "approval")
            if role not in ROLES:
                problems.append(f"signatures.{doc_type}: unknown role {role!r}")
            elif meaning not in MEANINGS:
                problems.append(f"signatures.{doc_type}: meaning must be review or approval")
            else:
                parsed.append(Requirement(role, meaning, req.get("scope") == "unit"))
        if not parsed:
            problems.append(f"signatures.{doc_type}: at least one signature is required")
        signatures[doc_type] = tuple(parsed)
    for doc_type in TYPES:
        if doc_type not in signatures:
            problems.append(f"signatures: no rule for type {doc_type}")
    if not units:
        problems.append("units: at least one organizational unit is required")
    variants = _variants((data.get("search") or {}).get("variants", DEFAULT_VARIANTS), problems)
    if problems:
        raise Invalid(f"{POLICY_PATH}: " + "; ".join(problems), detail={"problems": problems})
    return Policy(units, types, signatures, variants)


def _variants(raw, problems: list[str]) -> tuple[tuple[str, ...], ...]:
    groups = []
    for group in raw or ():
        words = [w for w in group if isinstance(w, str)] if isinstance(group, (list, tuple)) else []
        if len(words) < 2 or len(words) != len(group) or not all(re.fullmatch(r"\w+", w) for w in words):
            problems.append(f"search.variants: {group!r} must be a list of two or more single words")
            continue
        groups.append(tuple(w.lower() for w in words))
    return tuple(groups)


def default_policy() -> Policy:
    return parse_policy(yaml.safe_dump(DEFAULT_POLICY, allow_unicode=True))
