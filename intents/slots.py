"""Slots: the small facts inside a request, such as which breathing pattern or how long a break."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from intents.normalize import words_to_number

_PATTERN_WORDS = (
    ("4-7-8", re.compile(r"\bfour seven eight\b|\bfour (?:seven|7) (?:eight|8)\b")),
    ("box", re.compile(r"\bbox\w*\b|\bsquare breathing\b")),
    ("sigh", re.compile(r"\bsigh\w*\b|\bphysiological\b")),
    ("resonance", re.compile(r"\bresonan\w*\b|\bcoheren\w*\b|\bfive point five\b")),
    ("gentle", re.compile(r"\bgentle\b|\bsimple\b|\bbasic\b|\beasy\b")),
)

_MORE = re.compile(r"\b(?:more|why|explain|go on|continue|keep going|carry on|and then|details?|"
                   r"elaborate|what else)\b")
_MINUTES = re.compile(r"\b((?:(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
                      r"twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
                      r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|and)\s?)+)"
                      r"\s?(?:minutes?|mins?)\b")
_HOURS = re.compile(r"\b(?:an|one|a) hour\b|\bhalf an hour\b|\btwo hours\b")

EMPTY: Mapping[str, str] = MappingProxyType({})


def breathing_pattern(normalized: str) -> str | None:
    for name, pattern in _PATTERN_WORDS:
        if pattern.search(normalized):
            return name
    return None


def minutes_in(normalized: str) -> int | None:
    """ "give us twenty five minutes" -> 25; "half an hour" -> 30; None if no duration."""
    if match := _HOURS.search(normalized):
        return {"half an hour": 30, "two hours": 120}.get(match.group(0), 60)
    if match := _MINUTES.search(normalized):
        return words_to_number(match.group(1).split())
    return None


def extract_slots(intent_id: str, normalized: str) -> Mapping[str, str]:
    if intent_id == "calm_down" and (pattern := breathing_pattern(normalized)):
        return MappingProxyType({"pattern": pattern})
    if intent_id == "time_out" and (minutes := minutes_in(normalized)) is not None:
        return MappingProxyType({"minutes": str(minutes)})
    if intent_id == "next":
        return MappingProxyType({"what": "more" if _MORE.search(normalized) else "item"})
    return EMPTY
