"""Understanding what people mean: the safety check first, then the intent.

The intents (and an out-of-scope class with its own examples, out_of_scope.toml: an utterance
closer to "what's the weather" than to any tip comes out as `none`) are told apart by a
`PhraseClassifier` (intents/phrases.py), which explains how the evidence is weighed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from intents.catalog import CRISIS, NONE
from intents.library import Library
from intents.normalize import normalize
from intents.phrases import STOPWORDS, PhraseClassifier, PhraseGroup
from intents.safety import CONTROLLING, NOTHING, SAFE, SafetyCheck, SafetyFinding
from intents.semantic import Closeness, Meaning
from intents.slots import EMPTY, extract_slots, says_a_feeling
from intents.stem import stem

DEFAULT_THRESHOLD = 0.45  # below this confidence the answer is none
# A runner-up this close, on the score intents are ordered by, makes the coach ask "did you
# mean" (how often that happens, and how often it helps: bench/README.md).
AMBIGUITY_MARGIN = 0.05


@dataclass(frozen=True, slots=True)
class Intent:
    id: str
    confidence: float
    slots: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    alternatives: tuple[tuple[str, float], ...] = ()  # the runners-up, best first
    safety: SafetyFinding = NOTHING
    text: str = ""  # the normalised utterance
    # How far ahead of the first runner-up, on the matcher's ordering score (None: compare
    # the confidences).
    margin: float | None = None
    # A reading that may disclose danger while the best one, plainly read, does not: the
    # recogniser's other reading of the same speech, or this very text when the safety check
    # is in doubt. Understood as the crisis it would be: the coach asks before it either
    # ignores or acts on it.
    possible_crisis: Intent | None = None
    cut_short: bool = False  # the text was longer than MAX_TEXT and only its start was read

    @property
    def crisis(self) -> bool:
        return self.id == CRISIS

    @property
    def ambiguous(self) -> bool:
        if not self.alternatives or self.id == NONE:
            return False
        margin = (self.confidence - self.alternatives[0][1] if self.margin is None
                  else self.margin)
        return margin < AMBIGUITY_MARGIN


class IntentMatcher:
    """Two signals decide the intent: the lexical ranking (intents/phrases.py: fuzzy matching
    of the examples plus a linear classifier) and the meaning of the sentence (its closeness
    to each intent's examples, intents/semantic.py); the safety check reads the same meaning."""

    def __init__(self, library: Library, threshold: float = DEFAULT_THRESHOLD,
                 cache_dir: Path | None = None, meaning: Meaning | None = None,
                 notice: Callable[[str], None] | None = None) -> None:
        self.library = library
        self.threshold = threshold
        groups = intent_groups(library)
        if library.out_of_scope:
            groups.append(PhraseGroup(NONE, library.out_of_scope))
        self.intent_ids = [g.id for g in groups]
        self.phrases = PhraseClassifier(groups, library.synonyms, cache_dir)
        self.meaning = meaning or Meaning(library, cache_dir, notice=notice)
        self.safety = SafetyCheck(library, cache_dir, self.meaning)

    def understand(self, text: str, heard_otherwise: Sequence[str] = ()) -> Intent:
        """Safety first; then the best intent, or `none`. `heard_otherwise` are the
        recogniser's other readings of the same speech, checked for danger only."""
        text, cut_short = bounded(text)
        normalized = normalize(text)
        closeness = self.meaning.read(normalized) if normalized else None
        safety = self.safety.check(normalized, closeness)
        if safety.is_crisis:
            return Intent(CRISIS, 1.0, safety=safety, text=normalized, cut_short=cut_short)
        intent = replace(self._best_intent(normalized, safety, closeness), cut_short=cut_short)
        if safety.is_doubtful:  # it may be a disclosure: the coach asks
            return replace(intent, possible_crisis=Intent(CRISIS, 1.0, safety=safety,
                                                          text=normalized))
        for other in (normalize(bounded(t)[0]) for t in heard_otherwise):
            if other and other != normalized and (finding := self.safety.check(other)).is_crisis:
                return replace(intent, possible_crisis=Intent(CRISIS, 1.0, safety=finding,
                                                              text=other))
        return intent

    def _best_intent(self, normalized: str, safety: SafetyFinding,
                     closeness: Closeness | None) -> Intent:
        if closeness is None or self._says_nothing(normalized):
            return Intent(NONE, 0.0, text=normalized)
        if safety.level == SAFE and says_a_feeling(normalized) and \
                self.phrases.verbatim(normalized) in (None, "feelings"):
            # How someone feels, unless the library says those very words mean something else
            # ("i feel overwhelmed" asks for calm, "i am grateful" is thanks).
            return Intent("feelings", FEELING_CONFIDENCE, text=normalized)
        # The lexical score each group is ordered by, plus the meaning's say.
        scored = sorted(((score + MEANING_WEIGHT * closeness.intents.get(group, 0.0), group,
                          evidence, closeness.intents.get(group, 0.0))
                         for group, evidence, score in self.phrases.ranking(normalized)),
                        reverse=True)
        scored = _specific_first(scored)
        _, best_id, evidence, meaning = scored[0]
        confidence = LEXICAL_SHARE * evidence + (1 - LEXICAL_SHARE) * meaning
        if safety.level == CONTROLLING:
            # Controlling behaviour is answered as control, honestly named, whatever else was
            # said; the coach adds the hotline.
            return Intent("cause.control", round(max(confidence, self.threshold), 3),
                          safety=safety, text=normalized)
        runners = tuple((group, round(LEXICAL_SHARE * e + (1 - LEXICAL_SHARE) * m, 3))
                        for _, group, e, m in scored[1:] if group != NONE)[:2]
        if self.phrases.verbatim(normalized) == best_id:
            runners = ()  # said exactly as written in the library: nothing to ask about
        if best_id == NONE or confidence < self.threshold:
            # Closer to what people say to other assistants than to anything we know, or too
            # unsure: report the nearest intent as the alternative.
            return Intent(NONE, round(confidence, 3), alternatives=runners[:1], text=normalized)
        runner_score = next(score for score, group, _, _ in scored[1:] if group != NONE)
        return Intent(best_id, round(confidence, 3), slots=extract_slots(best_id, normalized),
                      alternatives=runners, text=normalized,
                      margin=round(scored[0][0] - runner_score, 3))

    def _says_nothing(self, normalized: str) -> bool:
        """A stray word or two of no meaning ("or", "our", "and so"): a recogniser's fragment,
        not a request (unless the library has it as it is, like "no" or "and then")."""
        words = normalized.split()
        return (len(words) <= STRAY_WORDS and self.phrases.verbatim(normalized) is None
                and all(w in _LINKING_WORDS or stem(w) in STOPWORDS for w in words))


MAX_TEXT = 1_000  # characters read of one utterance; a long typed text is cut, with a note
_LINKING_WORDS = frozenset("but yet oh ah hmm er um also then because though although still "
                           "even just anyway like right".split())
STRAY_WORDS = 3
FEELING_CONFIDENCE = 0.9  # a short statement of a feeling: how sure that it is one
MEANING_WEIGHT = 1.5  # how much the meaning's closeness adds to the lexical ordering score
LEXICAL_SHARE = 0.2  # the confidence: this much lexical evidence, the rest meaning


# An overview answers only when no topic of its own is nearly as likely: "how does a lack of
# transparency cause trust problems" asks about one cause, not all of them.
OVERVIEWS = {"causes": "cause.", "impacts": "impact.", "tips": "tip."}
OVERVIEW_YIELD = 0.35  # on the ordering score


def _specific_first(scored: list[tuple[float, str, float, float]]) -> list:
    best_score, best_id = scored[0][:2]
    family = OVERVIEWS.get(best_id)
    if family is None:
        return scored
    for place, candidate in enumerate(scored[1:4], start=1):
        if candidate[1].startswith(family) and candidate[0] >= best_score - OVERVIEW_YIELD:
            return [candidate, *scored[:place], *scored[place + 1:]]
    return scored


def bounded(text: str) -> tuple[str, bool]:
    """The text, cut at a word boundary if it is longer than MAX_TEXT; whether it was cut."""
    if len(text) <= MAX_TEXT:
        return text, False
    head = text[:MAX_TEXT]
    return head.rsplit(None, 1)[0] if " " in head.strip() else head, True


def intent_groups(library: Library) -> list[PhraseGroup]:
    return [PhraseGroup(e.id, e.examples, e.keywords, e.title, (*e.follow_up, e.reply))
            for e in library.intents.values()]
