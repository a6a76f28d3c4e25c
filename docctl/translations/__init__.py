"""The message catalogs (Polish; English is the source language), for the web and for e-mail.

Compiled from ``messages.po`` when the package is built and, in a source checkout, on first use.
No Flask here: the notifications written outside a request translate with :func:`catalog`.
"""

from __future__ import annotations

import functools
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).resolve().parent


def compile_catalogs(root: Path = TRANSLATIONS) -> None:
    """Each ``messages.po`` to its ``messages.mo`` when missing or older (a source checkout; the
    package build compiles them too, so an installed package needs no write access here)."""
    for po in root.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            messages = read_po(source)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as target:
            write_mo(target, messages)
        tmp.replace(mo)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "extract, translate later"
    return message


@functools.cache
def catalog(language: str) -> NullTranslations:
    """The translations for ``language`` (English: the texts as written)."""
    if language == "en":
        return NullTranslations()
    compile_catalogs()
    return Translations.load(str(TRANSLATIONS), [language])
