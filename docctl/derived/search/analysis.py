"""Text analysis for Polish (default) and English.

Two fields per text, queried together (the issue's design, 2026-11):
- *stemmed*: Snowball ``polish`` stem, then a small normalization of Polish alternations that
  Snowball leaves apart (fleeting *e*: wniosek/wniosku; *rz*/*r*: procedura/procedurze), then
  diacritics folded (nadzór/nadzoru, and "zrodla" typed without Polish letters);
- *folded*: no stemming, diacritics folded — exact words survive whatever the stemmer does.

Stem functions are module-level because Whoosh pickles the schema with the analyzers.
"""

from __future__ import annotations

import functools
import re
import threading

import snowballstemmer
from whoosh.analysis import CharsetFilter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter

FOLD = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
TOKEN_PATTERN = r"\w+"  # noqa: S105 - a regular expression, not a secret

# Frequent Polish function words; too common to help ranking.
POLISH_STOP_WORDS = frozenset(
    """
a aby ach acz aczkolwiek aj albo ale ależ ani aż bardziej bardzo bez bo bowiem by byli bym być był była było
były będzie będą cali cała cały ci cię ciebie co cokolwiek coś czasami czasem czemu czy czyli daleko dla dlaczego
dlatego do dobrze dokąd dość dużo dwa dwaj dwie dwoje dziś dzisiaj gdy gdyby gdyż gdzie gdziekolwiek gdzieś go i
ich ile im inna inne inny innych iż ja ją jak jakaś jakby jaki jakichś jakie jakiś jakiż jakkolwiek jako jakoś je
jeden jedna jedno jednak jednakże jego jej jemu jest jestem jeszcze jeśli jeżeli już ją każdy kiedy kilka kimś kto
ktokolwiek ktoś która które którego której który których którym którzy ku lat lecz lub ma mają mam mi mimo między
mną mnie mogą moi moim moja moje może możliwe można mój mu musi my na nad nam nami nas nasi nasz nasza nasze naszego
naszych natomiast natychmiast nawet nią nic nich nie niech niego niej niemu nigdy nim nimi niż no o obok od około on
ona one oni ono oraz oto owszem pan pana pani po pod podczas pomimo ponad ponieważ powinien powinna powinni powinno
poza prawie przecież przed przede przedtem przez przy roku również sam sama są się skąd sobie sobą sposób swoje ta
tak taka taki takie także tam te tego tej temu ten teraz też to tobą tobie toteż trzeba tu tutaj twoi twoim twoja
twoje twym twój ty tych tylko tym u w wam wami was wasz wasza wasze we według wiele wielu więc więcej wszyscy
wszystkich wszystkie wszystkim wszystko wtedy wy właśnie z za zapewne zawsze ze zł znowu znów został żaden żadna
żadne żadnych że żeby
""".split()
)

_local = threading.local()
_ALTERNATIONS = [(re.compile(r"(?<=[^aeiouyąęó])e([kcnlłrz])$"), r"\1"), (re.compile(r"rz$"), "r")]


def _polish() -> snowballstemmer.stemmer:
    # Snowball stemmer objects keep state between calls: one per thread.
    stemmer = getattr(_local, "polish", None)
    if stemmer is None:
        stemmer = _local.polish = snowballstemmer.stemmer("polish")
    return stemmer


def _english() -> snowballstemmer.stemmer:
    stemmer = getattr(_local, "english", None)
    if stemmer is None:
        stemmer = _local.english = snowballstemmer.stemmer("english")
    return stemmer


def fold(word: str) -> str:
    """Polish letters to their ASCII base ("źródło" → "zrodlo"); ł included, which NFKD misses."""
    return word.translate(FOLD)


@functools.lru_cache(maxsize=200_000)
def stem_pl(word: str) -> str:
    """Snowball Polish, Polish alternations evened out, diacritics folded (memoized: a
    vocabulary is small and the same words are stemmed again for every snippet)."""
    stem = _polish().stemWord(word) if len(word) > 3 else word
    for pattern, replacement in _ALTERNATIONS:
        if len(stem) > 4:
            stem = pattern.sub(replacement, stem)
    return fold(stem)


@functools.lru_cache(maxsize=200_000)
def stem_en(word: str) -> str:
    return _english().stemWord(word)


# The two verbal nouns of one verb (zatwierdzenie / zatwierdzanie, sprawdzenie / sprawdzanie) in
# any case: Snowball leaves them apart ("zatwierdzn" / "zatwierdzan") and people type either.
_VERBAL_NOUN = re.compile(r"(\w{4,}?)(a|e)(ni(?:e|a|u|em|ach|ami|om)|ń)")


def verbal_noun_partner(word: str) -> str | None:
    """The other verbal noun of ``word``'s verb, in the same case ("zatwierdzenia" →
    "zatwierdzania"), or None when ``word`` is not one. Used to widen a query, never the index:
    "zarządzenie" (an ordinance) must not become "zarządzanie" (management) in the text itself."""
    match = _VERBAL_NOUN.fullmatch(word.lower())
    if match is None:
        return None
    stem, vowel, ending = match.groups()
    return stem + ("e" if vowel == "a" else "a") + ending


def stemmer_for(language: str):
    return stem_pl if language == "pl" else stem_en


def stemmed_analyzer(language: str = "pl"):
    stop = POLISH_STOP_WORDS if language == "pl" else None
    chain = RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter()
    chain = chain | (StopFilter(stoplist=stop, minsize=1) if stop else StopFilter(minsize=1))
    return chain | StemFilter(stemfn=stemmer_for(language), cachesize=50000)


def folded_analyzer():
    return RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter() | CharsetFilter(FOLD)
