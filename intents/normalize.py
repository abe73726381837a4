"""Turning what was heard (or typed) into one canonical form before any matching.

Speech engines and people write the same words differently: "I'm" / "i am", "4-7-8" / "four
seven eight", "um, can you, like, help". Both the library's example phrases and every transcript
pass through `normalize`, so they meet in the same form.
"""

from __future__ import annotations

import re
import unicodedata

_CONTRACTIONS = {
    "won't": "will not", "can't": "can not", "cannot": "can not", "shan't": "shall not",
    "ain't": "am not", "let's": "let us", "y'all": "you all", "gonna": "going to",
    "wanna": "want to", "gotta": "got to", "kinda": "kind of", "sorta": "sort of",
    "dunno": "do not know", "lemme": "let me", "gimme": "give me", "ok": "okay",
}
_SUFFIXES = (("n't", " not"), ("'re", " are"), ("'ve", " have"), ("'ll", " will"),
             ("'m", " am"), ("'d", " would"))
# "'s" is "is" after these words, and a possessive (dropped) after anything else.
_IS_AFTER = frozenset("it he she that what where who there here how why when this".split())

# Grunts that do mean something: kept as one token each before fillers are dropped.
_MEANINGFUL_SOUNDS = {"uh huh": "uhhuh", "mm hmm": "uhhuh", "mhm": "uhhuh", "mm hm": "uhhuh",
                      "uh uh": "uhuh", "nuh uh": "uhuh"}
# Sounds and phrases that carry no meaning for us. Multi-word fillers go first.
_FILLER_PHRASES = ("you know", "i mean", "hey coach", "okay coach", "trust coach")
_FILLER_WORDS = frozenset("um umm uh uhh uhm er erm ah ahh hmm hm mm coach".split())

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    if n < 1_000_000:
        thousands, rest = divmod(n, 1000)
        return (number_to_words(thousands) + " thousand"
                + ("" if rest == 0 else " " + number_to_words(rest)))
    return " ".join(_ONES[int(d)] for d in str(n))  # long numbers: read digit by digit


_WORD_VALUES = {w: i for i, w in enumerate(_ONES)} | {
    w: 10 * i for i, w in enumerate(_TENS) if w != "_"}


def words_to_number(words: list[str]) -> int | None:
    """ "twenty five" -> 25, "a hundred" -> 100, "ninety" -> 90; None if not a number."""
    if not words:
        return None
    total, current = 0, 0
    for word in words:
        if word in ("a", "an") and current == 0:
            current = 1
        elif word == "and":
            continue
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _WORD_VALUES:
            current += _WORD_VALUES[word]
        else:
            return None
    return total + current


def _expand(token: str) -> str:
    if token in _CONTRACTIONS:
        return _CONTRACTIONS[token]
    if token.endswith("'s"):
        stem = token[:-2]
        return f"{stem} is" if stem in _IS_AFTER else stem
    for suffix, replacement in _SUFFIXES:
        if token.endswith(suffix) and len(token) > len(suffix):
            stem = token[: -len(suffix)]
            if suffix == "n't":
                return {"wo": "will", "ca": "can", "sha": "shall"}.get(stem, stem) + replacement
            return stem + replacement
    return token.replace("'", "")


def normalize(text: str) -> str:
    """Lowercase words separated by single spaces: contractions expanded, numbers as words,
    punctuation and filler words removed."""
    # Whisper joins some phrases in camel case ("iStatements"): split before lowering.
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", unicodedata.normalize("NFKC", text)).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = re.sub(r"\[unk\]|<unk>", " ", text)
    text = re.sub(r"\d+", lambda m: f" {number_to_words(int(m.group()))} ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    tokens = [_expand(t.strip("'")) for t in text.split() if t.strip("'")]
    text = " " + " ".join(tokens) + " "
    for sound, token in _MEANINGFUL_SOUNDS.items():
        text = text.replace(f" {sound} ", f" {token} ")
    said = text
    for phrase in _FILLER_PHRASES:
        text = text.replace(f" {phrase} ", " ")
    kept = " ".join(t for t in text.split() if t not in _FILLER_WORDS)
    # "hey coach" alone is a hello, not nothing: the wake words stay when nothing else does.
    return kept or " ".join(t for t in said.split() if t not in _FILLER_WORDS - {"coach"})


def says_any(normalized: str, phrases) -> bool:
    """Whether any of the phrases occurs as whole words in a normalised utterance."""
    padded = f" {normalized} "
    return any(f" {normalize(p)} " in padded for p in phrases)
