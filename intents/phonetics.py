"""How alike two words sound, for catching what a recogniser misheard.

Recognisers confuse words that sound alike, not words that are spelled alike: "hid" for "hit"
(one consonant loses its voice), while "shuts" and "hits" share letters but not sounds. Words are
compared as phone sequences from the CMU pronouncing dictionary that ships with PocketSphinx,
with an edit distance in which near-identical sounds (voiced/unvoiced pairs, neighbouring vowels)
cost less than unrelated ones. Words missing from the dictionary fall back to spelling.
"""

from __future__ import annotations

import logging
from functools import cache, lru_cache
from pathlib import Path

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

log = logging.getLogger(__name__)

# Sounds a recogniser easily swaps: pairs that differ only in voicing or place, and vowels.
_CLOSE_PAIRS = {frozenset(p) for p in (
    ("P", "B"), ("T", "D"), ("K", "G"), ("F", "V"), ("S", "Z"), ("SH", "ZH"), ("CH", "JH"),
    ("TH", "DH"), ("M", "N"), ("N", "NG"), ("T", "K"), ("D", "G"), ("P", "T"), ("L", "R"),
)}
_VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
_CLOSE_COST = 0.35
_VOWEL_COST = 0.5
_PHONES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
           "UH UW V W Y Z ZH").split()
_PHONE_CHAR = {p: chr(0x41 + i) for i, p in enumerate(_PHONES)}
_CHAR_PHONE = {c: p for p, c in _PHONE_CHAR.items()}


def read_pronunciations(path: Path) -> dict[str, list[str]]:
    """The CMU pronouncing dictionary as word -> its lines ("word(2) ..." alternates too)."""
    entries: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            head = line.split(None, 1)[0]
            entries.setdefault(head.split("(", 1)[0], []).append(line)
    return entries


@cache
def _dictionary() -> dict[str, str]:
    """Word -> its phones, one character per phone (so C++ edit distances can prefilter)."""
    try:
        import pocketsphinx

        path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
        return {word: "".join(_PHONE_CHAR[p.rstrip("012")] for p in lines[0].split()[1:])
                for word, lines in read_pronunciations(path).items()}
    except (ImportError, OSError) as error:
        log.warning("no pronouncing dictionary (%s); comparing spellings instead", error)
        return {}


def _substitution(a: str, b: str) -> float:
    if a == b:
        return 0.0
    a, b = _CHAR_PHONE[a], _CHAR_PHONE[b]
    if frozenset((a, b)) in _CLOSE_PAIRS:
        return _CLOSE_COST
    if a in _VOWELS and b in _VOWELS:
        return _VOWEL_COST
    return 1.0


def _distance(a: str, b: str) -> float:
    previous = [float(j) for j in range(len(b) + 1)]
    for i, x in enumerate(a, start=1):
        current = [float(i)]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + _substitution(x, y)))
        previous = current
    return previous[-1]


@lru_cache(maxsize=4096)  # its caller keeps whole rows (intents.safety); this is for repeats
def sound_similarity(first: str, second: str, at_least: float = 0.0) -> float:
    """0-1: 1 for the same sounds, about 0.9 for "hid"/"hit", low for unrelated words.

    With `at_least`, a pair that cannot reach it may get a cheap upper bound instead of the
    exact value: a plain edit distance (in C++) bounds the weighted one from below, since no
    substitution costs less than _CLOSE_COST.
    """
    if first == second:
        return 1.0
    table = _dictionary()
    a, b = table.get(first), table.get(second)
    if a is None or b is None:
        return fuzz.ratio(first, second) / 100.0
    longest = max(len(a), len(b))
    upper = 1.0 - min(_CLOSE_COST, 1.0) * Levenshtein.distance(a, b) / longest
    if upper < at_least:
        return upper
    return max(0.0, 1.0 - _distance(a, b) / longest)
