"""Understanding what people mean: the safety check first, then fuzzy matching against the
library's example phrases.

Scoring, and why (rapidfuzz does the string work):

* Whole-phrase similarity, `fuzz.ratio` (normalised Indel distance) between the transcript and
  each example. It rewards near-verbatim requests and survives recogniser slips inside words
  ("statement" / "statements", "calm" / "come"), but punishes extra words.
* Weighted word overlap (a soft F1): each word counts by how rare it is across intents (IDF), so
  "cheating" decides and "please" barely matters; words match when `fuzz.ratio` >= 80, which keeps
  plurals and small mishearings. Precision is over the transcript's words, recall over the
  example's words. This carries paraphrases and rambling sentences, and it is what rejects
  out-of-scope speech: "set a timer for the pasta" has heavy words ("pasta") that no example
  explains, so precision, and with it the score, stays low. Words the library has never seen get
  the highest weight for that reason.
* Keywords from the library add a fixed bonus when present, as independent evidence.

We tried `token_set_ratio` and `WRatio` first: both give 100 to any example whose words are a
subset of the transcript, so a one-word example like "stop" captured long unrelated sentences.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from rapidfuzz import fuzz, process

from intents.catalog import CRISIS, NONE
from intents.library import Library, display_text
from intents.normalize import normalize
from intents.safety import CONTROL, NOTHING, SafetyFinding, check_safety
from intents.stem import stem

DEFAULT_THRESHOLD = 0.5
AMBIGUITY_MARGIN = 0.03
WORD_MATCH = 80.0  # fuzz.ratio at which an unknown word is taken for a known one
KEYWORD_BONUS = 0.1
# How the three signals combine (tuned on tests/data/eval.tsv, checked on holdout.tsv).
EXAMPLE_WEIGHT = 0.7  # best single example: weighted word F1 ...
PHRASE_SHARE = 0.35  # ... of which this share is whole-phrase similarity instead
COVERAGE_WEIGHT = 0.45  # how much of what was said the intent's vocabulary explains
REPLY_WORD_CREDIT = 0.3  # a word only in the intent's reply or follow-ups counts this much
STOPWORD_WEIGHT = 0.15
IDF_FROM_EXAMPLES = True
UNKNOWN_WEIGHT: float | None = None  # None: as heavy as the rarest known word
WEIGHT_CAP = 3.0

# Words so common in requests that they say little about which intent is meant.
_STOPWORDS = frozenset(stem(w) for w in (
    "a an the i me my we us our you your it is am are was were be been to of and or in on at "
    "for with about do does did can could would should will just so that this there what how "
    "please okay well really some any he she him her they them his their one get got if when "
    "not no all much more very now then want need know think feel like").split())

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Intent:
    id: str
    confidence: float
    slots: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    alternatives: tuple[tuple[str, float], ...] = ()  # the runners-up, best first
    safety: SafetyFinding = NOTHING
    text: str = ""  # the normalised utterance

    @property
    def crisis(self) -> bool:
        return self.id == CRISIS

    @property
    def ambiguous(self) -> bool:
        return bool(self.alternatives) and (
            self.confidence - self.alternatives[0][1] < AMBIGUITY_MARGIN)


class IntentMatcher:
    def __init__(self, library: Library, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.library = library
        self.threshold = threshold
        # Out-of-scope speech competes as one more class, "none", with its own examples.
        groups = [(e.id, e.examples, e.keywords, e.title, (*e.follow_up, e.reply))
                  for e in library.intents.values()]
        if library.out_of_scope:
            groups.append((NONE, library.out_of_scope, (), "", ()))
        self.intent_ids = [g[0] for g in groups]
        self._phrase_synonyms = sorted(
            ((f" {k} ", f" {v} ") for k, v in library.synonyms.items() if " " in k),
            key=lambda kv: -len(kv[0]))
        self._word_synonyms = {stem(k): stem(v) for k, v in library.synonyms.items()
                               if " " not in k}
        example_texts: list[str] = []
        example_owner: list[int] = []
        profiles: list[dict[str, float]] = []
        for row, (_, examples, keywords, title, said_lines) in enumerate(groups):
            profile: dict[str, float] = {}
            for said in said_lines:
                for s in self._stems(normalize(display_text(said))):
                    profile[s] = max(profile.get(s, 0.0), REPLY_WORD_CREDIT)
            for phrase in (*examples, *keywords, title):
                for s in self._stems(normalize(phrase)):
                    profile[s] = 1.0
            for phrase in examples:
                example_texts.append(normalize(phrase))
                example_owner.append(row)
            profiles.append(profile)
        self._vocabulary = sorted({s for p in profiles for s in p})
        self._index = {s: i for i, s in enumerate(self._vocabulary)}
        self._weights = self._idf(
            [{s for p in (*g[1], *g[2], g[3]) for s in self._stems(normalize(p))} for g in groups]
            if IDF_FROM_EXAMPLES else [set(p) for p in profiles])
        self._unknown_weight = (float(self._weights.max()) if UNKNOWN_WEIGHT is None
                                else UNKNOWN_WEIGHT)
        self._example_texts = example_texts
        self._example_owner = np.array(example_owner)
        # Examples are stored intent by intent, so each intent's best example is a reduceat.
        self._intent_starts = np.flatnonzero(np.r_[True, np.diff(self._example_owner) != 0])
        self._examples = np.zeros((len(example_texts), len(self._vocabulary)), dtype=np.float32)
        for row, text in enumerate(example_texts):
            for s in self._stems(text):
                self._examples[row, self._index[s]] = 1.0
        self._example_mass = self._examples @ self._weights
        self._profiles = np.zeros((len(profiles), len(self._vocabulary)), dtype=np.float32)
        for row, profile in enumerate(profiles):
            for s, credit in profile.items():
                self._profiles[row, self._index[s]] = credit
        self._keywords = [tuple(k for k in map(normalize, g[2]) if k) for g in groups]

    def _stems(self, normalized: str) -> list[str]:
        """Stems with the library's synonyms folded in: "row" and "bickering" read as "fight"."""
        text = f" {normalized} "
        for phrase, canonical in self._phrase_synonyms:
            text = text.replace(phrase, canonical)
        return [self._word_synonyms.get(s, s) for s in map(stem, text.split())]

    def _idf(self, documents: list[set[str]]) -> np.ndarray:
        """Inverse document frequency, a document being what people say for one intent."""
        frequency = Counter(s for d in documents for s in d)
        n = len(documents)
        weights = np.array([math.log((n + 1) / (frequency[s] + 0.5)) for s in self._vocabulary],
                           dtype=np.float32)
        for s, i in self._index.items():
            if s in _STOPWORDS:
                weights[i] = STOPWORD_WEIGHT
        return np.clip(weights, STOPWORD_WEIGHT, WEIGHT_CAP)

    # -- public --------------------------------------------------------------------------------

    def understand(self, text: str) -> Intent:
        """Safety first; then the best intent, or `none` below the threshold."""
        normalized = normalize(text)
        safety = check_safety(normalized)
        if safety.is_crisis:
            return Intent(CRISIS, 1.0, safety=safety, text=normalized)
        if not normalized:
            return Intent(NONE, 0.0, text=normalized)
        ranked = self.rank(normalized)
        best_id, best = ranked[0]
        if best_id == NONE:
            # Closer to things people say to other assistants than to anything we know.
            runner_id, runner = next((i, sc) for i, sc in ranked if i != NONE)
            return Intent(NONE, round(runner, 3), alternatives=((runner_id, round(runner, 3)),),
                          text=normalized)
        if safety.level == CONTROL:
            # Controlling behaviour is answered as control, honestly named, whatever else was
            # said; the coach adds the hotline.
            return Intent("cause.control", round(max(best, self.threshold), 3), safety=safety,
                          text=normalized)
        runners = tuple((i, round(s, 3)) for i, s in ranked[1:4] if i != NONE)[:2]
        if best < self.threshold:
            return Intent(NONE, round(best, 3), alternatives=((best_id, round(best, 3)),),
                          text=normalized)
        return Intent(best_id, round(best, 3), slots=extract_slots(best_id, normalized),
                      alternatives=runners, text=normalized)

    def rank(self, normalized: str) -> list[tuple[str, float]]:
        """Every intent with its score in 0-1, best first."""
        heard, mass = self._utterance_vector(normalized)
        if mass == 0.0:
            return [(i, 0.0) for i in self.intent_ids]
        weighted = heard * self._weights
        matched = self._examples @ weighted
        precision = matched / mass
        recall = matched / np.maximum(self._example_mass, 1e-6)
        f1 = np.where(matched > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-9),
                      0.0)
        phrase = process.cdist([normalized], self._example_texts, scorer=fuzz.ratio,
                               dtype=np.float32)[0] / 100.0
        example_score = (1 - PHRASE_SHARE) * f1 + PHRASE_SHARE * phrase
        best_example = np.maximum.reduceat(example_score, self._intent_starts)
        coverage = (self._profiles @ weighted) / mass
        scores = EXAMPLE_WEIGHT * best_example + COVERAGE_WEIGHT * coverage
        for row, keywords in enumerate(self._keywords):
            if any(f" {k} " in f" {normalized} " for k in keywords):
                scores[row] += KEYWORD_BONUS
        scores = np.clip(scores, 0.0, 1.0)
        order = np.argsort(-scores, kind="stable")
        return [(self.intent_ids[i], float(scores[i])) for i in order]

    def _utterance_vector(self, normalized: str) -> tuple[np.ndarray, float]:
        """Which known words were heard (1, or the similarity of a near miss), and the total
        weight of everything said, unknown words included at the highest weight."""
        heard = np.zeros(len(self._vocabulary), dtype=np.float32)
        mass = 0.0
        for s in dict.fromkeys(self._stems(normalized)):
            index = self._index.get(s)
            similarity = 1.0
            if index is None and len(s) >= 4:
                match = process.extractOne(s, self._vocabulary, scorer=fuzz.ratio,
                                           score_cutoff=WORD_MATCH)
                if match is not None:
                    index, similarity = match[2], match[1] / 100.0
            if index is None:
                mass += STOPWORD_WEIGHT if s in _STOPWORDS else self._unknown_weight
                continue
            heard[index] = max(heard[index], similarity)
            mass += float(self._weights[index])
        return heard, mass


# --- slots -----------------------------------------------------------------------------------

_PATTERN_WORDS = (
    ("4-7-8", re.compile(r"\bfour seven eight\b|\bfour (?:seven|7) (?:eight|8)\b")),
    ("box", re.compile(r"\bbox\w*\b|\bsquare breathing\b")),
    ("sigh", re.compile(r"\bsigh\w*\b|\bphysiological\b")),
    ("resonance", re.compile(r"\bresonan\w*\b|\bcoheren\w*\b|\bfive point five\b")),
    ("gentle", re.compile(r"\bgentle\b|\bsimple\b|\bbasic\b|\beasy\b")),
)


def breathing_pattern(normalized: str) -> str | None:
    for name, pattern in _PATTERN_WORDS:
        if pattern.search(normalized):
            return name
    return None


_MORE = re.compile(r"\b(?:more|why|explain|go on|continue|keep going|carry on|and then|details?|"
                   r"elaborate|what else)\b")


def extract_slots(intent_id: str, normalized: str) -> Mapping[str, str]:
    if intent_id == "calm_down" and (pattern := breathing_pattern(normalized)):
        return MappingProxyType({"pattern": pattern})
    if intent_id == "next":
        return MappingProxyType({"what": "more" if _MORE.search(normalized) else "item"})
    return _EMPTY
