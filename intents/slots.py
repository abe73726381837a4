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
                   r"elaborate|what else|examples?|for instance|like what|such as)\b")
_COUNT = (r"(?:(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
          r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|"
          r"sixty|seventy|eighty|ninety|hundred|and) ?)+")
_FRACTION = {"half": 30, "quarter": 15}
# "an hour and a half", "one and a half hours", "two hours and ten minutes", "ninety minutes",
# "half an hour", "three quarters of an hour": spoken durations, in the order people say them.
_DURATION = re.compile(
    rf"\b(?:(?P<hours>{_COUNT})(?:and an? (?P<pre>half|quarter) )?hours?"
    rf"(?: and an? (?P<post>half|quarter))?(?: (?:and )?(?P<extra>{_COUNT})(?:minutes?|mins?))?"
    rf"|(?P<quarters>three quarters|half|(?:a )?quarter) (?:of )?an hour"
    rf"|(?P<minutes>{_COUNT})(?:minutes?|mins?))\b")

EMPTY: Mapping[str, str] = MappingProxyType({})
MIN_BREAK, MAX_BREAK = 10, 120  # minutes a time-out timer may run


# Words for how someone feels. A short statement of one ("i am so weary", "feeling a bit raw
# tonight") is a feeling said aloud, whatever words the library's examples happen to use.
_FEELING_WORDS = (
    "sad|unhappy|down|low|blue|miserable|gutted|devastated|heartbroken|crushed|hurt|raw|sore|"
    "lonely|alone|isolated|empty|numb|hollow|lost|tired|exhausted|shattered|weary|drained|"
    "wiped out|worn out|knackered|burnt out|burned out|spent|overwhelmed|stressed|stressed out|"
    "tense|wound up|on edge|edgy|jittery|jumpy|shaky|restless|anxious|nervous|worried|uneasy|"
    "panicky|scared|frightened|afraid|angry|furious|livid|cross|mad|annoyed|irritated|"
    "frustrated|fed up|bitter|resentful|jealous|insecure|ashamed|embarrassed|guilty|stupid|"
    "worthless|useless|rejected|unwanted|unloved|unappreciated|ignored|confused|mixed up|"
    "all over the place|hopeless|helpless|discouraged|disappointed|betrayed|hopeful|happy|"
    "relieved|calm|calmer|better|good|great|okay|grateful|proud|content|peaceful|excited|"
    "at peace|lighter|optimistic|emotional|tearful|weepy|moody|grumpy|flat|off|rubbish|awful|"
    "terrible|horrible|dreadful|rotten|fragile|vulnerable|broken|defeated|drained")
_FEELING = re.compile(
    rf"^(?:i am|i feel|i am feeling|i have been feeling|feeling|i feel like i am|honestly i am|"
    rf"just|i am just|i just feel)(?: (?:so|really|very|quite|absolutely|completely|totally|"
    rf"pretty|a bit|a little|kind of|sort of|bit|emotionally|just|utterly|too))* "
    rf"(?:{_FEELING_WORDS})(?: (?:today|tonight|right now|at the moment|lately|inside|again|"
    rf"about (?:it|this|everything|us)|after (?:\w+ ){{0,3}}\w+|with (?:worry|it all)))?$")


def says_a_feeling(normalized: str) -> bool:
    """A short statement of how someone feels, and nothing more."""
    return _FEELING.match(normalized) is not None


def breathing_pattern(normalized: str) -> str | None:
    for name, pattern in _PATTERN_WORDS:
        if pattern.search(normalized):
            return name
    return None


def minutes_in(normalized: str) -> int | None:
    """ "give us twenty five minutes" -> 25; "an hour and a half" -> 90; None if no duration."""
    match = _DURATION.search(normalized)
    if match is None:
        return None
    if match["quarters"]:
        return {"three quarters": 45, "half": 30}.get(match["quarters"], 15)
    if match["minutes"]:
        return _count(match["minutes"])
    hours = _count(match["hours"])
    if hours is None:
        return None
    extra = _count(match["extra"]) if match["extra"] else 0
    fraction = _FRACTION.get(match["pre"] or match["post"] or "", 0)
    return None if extra is None else 60 * hours + fraction + extra


def _count(words: str) -> int | None:
    return words_to_number(words.split())


def extract_slots(intent_id: str, normalized: str) -> Mapping[str, str]:
    if intent_id == "calm_down" and (pattern := breathing_pattern(normalized)):
        return MappingProxyType({"pattern": pattern})
    if intent_id == "time_out" and (minutes := minutes_in(normalized)) is not None:
        return MappingProxyType({"minutes": str(minutes)})
    if intent_id == "next":
        return MappingProxyType({"what": "more" if _MORE.search(normalized) else "item"})
    return EMPTY
