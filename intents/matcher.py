"""Understanding what people mean: the safety check first, then the intent.

The intents (and an out-of-scope class with its own examples, out_of_scope.toml: an utterance
closer to "what's the weather" than to any tip comes out as `none`) are told apart by a
`PhraseClassifier` (intents/phrases.py), which explains how the evidence is weighed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from intents.catalog import CRISIS, NONE
from intents.library import Library
from intents.normalize import normalize
from intents.phrases import PhraseClassifier, PhraseGroup
from intents.safety import CONTROLLING, NOTHING, SafetyCheck, SafetyFinding
from intents.slots import EMPTY, extract_slots

DEFAULT_THRESHOLD = 0.45  # below this evidence the answer is none
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
    # Another reading of the same speech (the recogniser's runner-up) that discloses danger
    # while this one does not, understood as the crisis it would be: the coach asks before it
    # either ignores or acts on it.
    possible_crisis: Intent | None = None

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
    def __init__(self, library: Library, threshold: float = DEFAULT_THRESHOLD,
                 cache_dir: Path | None = None) -> None:
        self.library = library
        self.threshold = threshold
        groups = intent_groups(library)
        if library.out_of_scope:
            groups.append(PhraseGroup(NONE, library.out_of_scope))
        self.intent_ids = [g.id for g in groups]
        self.phrases = PhraseClassifier(groups, library.synonyms, cache_dir)
        self.safety = SafetyCheck(library, cache_dir)

    def understand(self, text: str, heard_otherwise: Sequence[str] = ()) -> Intent:
        """Safety first; then the best intent, or `none`. `heard_otherwise` are the
        recogniser's other readings of the same speech, checked for danger only."""
        normalized = normalize(text)
        safety = self.safety.check(normalized)
        if safety.is_crisis:
            return Intent(CRISIS, 1.0, safety=safety, text=normalized)
        intent = self._best_intent(normalized, safety)
        for other in map(normalize, heard_otherwise):
            if other and (finding := self.safety.check(other)).is_crisis:
                return replace(intent, possible_crisis=Intent(CRISIS, 1.0, safety=finding,
                                                              text=other))
        return intent

    def _best_intent(self, normalized: str, safety: SafetyFinding) -> Intent:
        if not normalized:
            return Intent(NONE, 0.0, text=normalized)
        scored = self.phrases.ranking(normalized)
        ranked = [(group, evidence) for group, evidence, _ in scored]
        best_id, best = ranked[0]
        if safety.level == CONTROLLING:
            # Controlling behaviour is answered as control, honestly named, whatever else was
            # said; the coach adds the hotline.
            return Intent("cause.control", round(max(best, self.threshold), 3), safety=safety,
                          text=normalized)
        runners = tuple((i, round(s, 3)) for i, s in ranked[1:] if i != NONE)[:2]
        if self.phrases.verbatim(normalized) == best_id:
            runners = ()  # said exactly as written in the library: nothing to ask about
        if best_id == NONE or best < self.threshold:
            # Closer to what people say to other assistants than to anything we know, or too
            # unsure: report the nearest intent as the alternative.
            nearest = next((i, s) for i, s in ranked if i != NONE)
            return Intent(NONE, round(nearest[1], 3), alternatives=((nearest[0],
                          round(nearest[1], 3)),), text=normalized)
        runner_score = next(score for group, _, score in scored[1:] if group != NONE)
        return Intent(best_id, round(best, 3), slots=extract_slots(best_id, normalized),
                      alternatives=runners, text=normalized,
                      margin=round(scored[0][2] - runner_score, 3))


def intent_groups(library: Library) -> list[PhraseGroup]:
    return [PhraseGroup(e.id, e.examples, e.keywords, e.title, (*e.follow_up, e.reply))
            for e in library.intents.values()]
