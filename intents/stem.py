"""A small English stemmer, so "lying", "lies" and "lied" meet as one word when matching.

Porter's full algorithm is more than we need: requests to a voice coach are short and everyday.
This strips the common inflections, undoes consonant doubling ("getting" -> "get"), and keeps a
short list of irregular forms that matter in this domain.
"""

from __future__ import annotations

from functools import lru_cache

_IRREGULAR = {
    "lied": "lie", "lies": "lie", "lying": "lie", "liar": "lie", "liars": "lie",
    "fought": "fight", "felt": "feel", "feelings": "feel", "feeling": "feel",
    "kept": "keep", "told": "tell", "said": "say", "says": "say", "thought": "think",
    "broke": "break", "broken": "break", "hid": "hide", "hidden": "hide", "hiding": "hide",
    "better": "good", "best": "good", "worse": "bad", "worst": "bad", "children": "child",
    "men": "man", "women": "woman", "people": "person", "went": "go", "gone": "go",
    "did": "do", "does": "do", "done": "do", "was": "be", "were": "be", "is": "be",
    "are": "be", "am": "be", "been": "be", "has": "have", "had": "have", "having": "have",
    "cheater": "cheat", "cheaters": "cheat", "jealousy": "jealous", "anxious": "anxiety",
    "angry": "anger", "calmer": "calm", "breath": "breathe", "breaths": "breathe",
    "breathing": "breathe", "lonely": "alone", "trusting": "trust", "trusted": "trust",
    "distrust": "distrust", "mistrust": "distrust", "suspicious": "suspicion",
    "honesty": "honest", "secretive": "secret", "transparent": "transparency",
    "consistent": "consistency", "consistently": "consistency", "inconsistent": "inconsistency",
    "reliable": "rely", "reliability": "rely", "forgive": "forgiveness", "forgiving": "forgiveness",
    "forgave": "forgiveness", "empathize": "empathy", "empathise": "empathy",
    "intimate": "intimacy", "arguing": "argue", "argued": "argue", "argument": "argue",
    "arguments": "argue", "stopped": "stop", "stopping": "stop",
}
_VOWELS = frozenset("aeiou")
_KEEP_DOUBLE = frozenset("lsz")


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    return _drop_final_e(_strip_suffix(word))


def _drop_final_e(word: str) -> str:
    # "promise" and "promising" meet at "promis", "cause" and "causes" at "caus".
    if len(word) > 3 and word.endswith("e") and not word.endswith("ee"):
        return word[:-1]
    return word


def _strip_suffix(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3:
        return word
    for suffix, replacement, min_stem in (("ies", "y", 2), ("ied", "y", 2), ("ing", "", 3),
                                          ("ed", "", 3), ("es", "", 3), ("ly", "", 4),
                                          ("s", "", 3)):
        if word.endswith(suffix):
            root = word[: -len(suffix)] + replacement
            if len(root) < min_stem:
                continue
            if suffix == "es" and not root.endswith(("s", "x", "z", "ch", "sh")):
                root = word[:-1]  # "causes" -> "cause", "pushes" -> "push"
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            if suffix in ("ing", "ed") and not any(c in _VOWELS for c in root):
                return word  # "sing", "red"
            if (suffix in ("ing", "ed") and len(root) >= 3 and root[-1] == root[-2]
                    and root[-1] not in _VOWELS and root[-1] not in _KEEP_DOUBLE):
                root = root[:-1]  # "getting" -> "get"
            return _IRREGULAR.get(root, root)
    return word
