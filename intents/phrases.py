"""Classifying an utterance among groups of example phrases: the engine under both the intent
matcher (45 intents and out-of-scope) and the learned part of the safety check (crisis or not).

Three kinds of evidence are combined; each was kept because the evaluation sets support it
(numbers in the issue notes and in bench/):

* Whole-phrase similarity, `fuzz.ratio` (normalised Indel distance) between the utterance and
  each example. It rewards near-verbatim requests and survives recogniser slips inside words
  ("statement" / "statements"), but punishes extra words.
* Weighted word overlap (a soft F1) with the best single example, and coverage: how much of what
  was said the group's whole vocabulary explains. Words count by how rare they are across groups
  (IDF), so "cheating" decides and "please" barely matters; a word never seen is first mapped to
  a known word within `fuzz.ratio` >= 80 (a mishearing or a plural), and otherwise weighs as much
  as the rarest known word, which is what keeps "set a timer for the pasta" from matching the
  time-out.
* A linear classifier over stems and stem pairs (intents/classifier.py), which learns the
  framing words fuzzy matching treats as filler ("why" for causes, "how do we" for tips). It
  only orders the groups; the confidence reported is the fuzzy evidence, which reads as a
  similarity.

We tried `token_set_ratio` and `WRatio` first: both give 100 to any example whose words are a
subset of the utterance, so a one-word example like "stop" captured long unrelated sentences.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from intents.classifier import PairFeatures, RidgeClassifier
from intents.library import display_text
from intents.normalize import normalize
from intents.stem import stem

WORD_MATCH = 80.0  # fuzz.ratio at which an unknown word is taken for a known one
EXAMPLE_WEIGHT = 0.7  # best single example: weighted word F1 ...
PHRASE_SHARE = 0.35  # ... of which this share is whole-phrase similarity instead
COVERAGE_WEIGHT = 0.45  # how much of what was said the group's vocabulary explains
KEYWORD_BONUS = 0.1  # a keyword of the group was said
REPLY_WORD_CREDIT = 0.3  # a word only in the group's reply or follow-ups counts this much
CLASSIFIER_WEIGHT = 0.6  # the linear classifier's score, added for ordering only
VERBATIM_BONUS = 10.0  # said exactly as an example: that group, whatever else scores well
STOPWORD_WEIGHT = 0.15
WEIGHT_CAP = 3.0

# Words so common in requests that they say little about which group is meant.
STOPWORDS = frozenset(stem(w) for w in (
    "a an the i me my we us our you your it is am are was were be been to of and or in on at "
    "for with about do does did can could would should will just so that this there what how "
    "please okay well really some any he she him her they them his their one get got if when "
    "not no all much more very now then want need know think feel like").split())


@dataclass(frozen=True, slots=True)
class PhraseGroup:
    """One class to match: its examples, and optionally keywords, a title and what it says."""

    id: str
    examples: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    title: str = ""
    said: tuple[str, ...] = ()  # reply and follow-ups: their words count a little


class PhraseClassifier:
    def __init__(self, groups: Sequence[PhraseGroup], synonyms: Mapping[str, str] | None = None,
                 cache_dir: Path | None = None) -> None:
        synonyms = synonyms or {}
        self.ids = [g.id for g in groups]
        self._phrase_synonyms = sorted(
            ((f" {k} ", f" {v} ") for k, v in synonyms.items() if " " in k),
            key=lambda kv: -len(kv[0]))
        self._word_synonyms = {stem(k): stem(v) for k, v in synonyms.items() if " " not in k}
        self._build_vocabulary(groups)
        self._build_examples(groups)
        self._keywords = [tuple(k for k in map(normalize, g.keywords) if k) for g in groups]
        self._features = PairFeatures(len(self._vocabulary))
        rows, labels = [], []
        for label, group in enumerate(groups):
            for phrase in (*group.examples, *group.keywords):
                words = self.stems(normalize(phrase))
                rows.append(self._features.indices(words, [self._index[w] for w in words]))
                labels.append(label)
        self._classifier = RidgeClassifier.cached(rows, labels, self._features.size,
                                                  len(groups), cache_dir)

    def _build_vocabulary(self, groups: Sequence[PhraseGroup]) -> None:
        profiles: list[dict[str, float]] = []
        heard: list[set[str]] = []
        for group in groups:
            profile: dict[str, float] = {}
            for line in group.said:
                for s in self.stems(normalize(display_text(line))):
                    profile[s] = max(profile.get(s, 0.0), REPLY_WORD_CREDIT)
            words = {s for p in (*group.examples, *group.keywords, group.title)
                     for s in self.stems(normalize(p))}
            profile.update(dict.fromkeys(words, 1.0))
            profiles.append(profile)
            heard.append(words)
        self._vocabulary = sorted({s for p in profiles for s in p})
        self._index = {s: i for i, s in enumerate(self._vocabulary)}
        self._weights = _idf(heard, self._vocabulary)
        self._unknown_weight = float(self._weights.max())
        self._profiles = np.zeros((len(groups), len(self._vocabulary)), dtype=np.float32)
        for row, profile in enumerate(profiles):
            for s, credit in profile.items():
                self._profiles[row, self._index[s]] = credit

    def _build_examples(self, groups: Sequence[PhraseGroup]) -> None:
        self._example_texts = [normalize(p) for g in groups for p in g.examples]
        owners = np.array([row for row, g in enumerate(groups) for _ in g.examples])
        # Examples are stored group by group, so each group's best example is a reduceat.
        self._group_starts = np.flatnonzero(np.r_[True, np.diff(owners) != 0])
        self._verbatim = dict(zip(self._example_texts, owners.tolist(), strict=True))
        # Each example as the list of its distinct word indices, all in one flat array: a
        # dense examples-by-vocabulary matrix would cost tens of megabytes for the safety check.
        words = [sorted({self._index[s] for s in self.stems(t)}) for t in self._example_texts]
        self._example_words = np.array([i for w in words for i in w], dtype=np.int32)
        self._example_starts = np.r_[0, np.cumsum([len(w) for w in words])[:-1]].astype(np.int64)
        self._example_mass = self._sum_per_example(self._weights)

    def _sum_per_example(self, values: np.ndarray) -> np.ndarray:
        """For each example, the sum of `values` over its words."""
        return np.add.reduceat(values[self._example_words], self._example_starts)

    def stems(self, normalized: str) -> list[str]:
        """Stems with the synonyms folded in: "row" and "bickering" read as "fight"."""
        text = f" {normalized} "
        for phrase, canonical in self._phrase_synonyms:
            text = text.replace(phrase, canonical)
        return [self._word_synonyms.get(s, s) for s in map(stem, text.split())]

    def verbatim(self, normalized: str) -> str | None:
        """The group whose example this is, word for word, if any."""
        row = self._verbatim.get(normalized)
        return None if row is None else self.ids[row]

    def rank(self, normalized: str) -> list[tuple[str, float]]:
        """Every group, best first, with its evidence in 0-1."""
        return [(group, evidence) for group, evidence, _ in self.ranking(normalized)]

    def ranking(self, normalized: str) -> list[tuple[str, float, float]]:
        """Every group, best first: its evidence in 0-1, and the score it is ordered by."""
        words = self.stems(normalized)
        found = {w: self._known(w) for w in set(words)}  # each distinct word once
        known = [found[w] for w in words]
        evidence = self._evidence(normalized, words, known)
        indices = self._features.indices(words, [k[0] if k else None for k in known])
        combined = evidence + CLASSIFIER_WEIGHT * self._classifier.scores(indices)
        if (row := self._verbatim.get(normalized)) is not None:
            combined[row] += VERBATIM_BONUS
        order = np.argsort(-combined, kind="stable")
        return [(self.ids[i], min(1.0, float(evidence[i])), float(combined[i])) for i in order]

    def _known(self, word: str) -> tuple[int, float] | None:
        """The vocabulary index for a word and how sure we are it is that word."""
        if (index := self._index.get(word)) is not None:
            return index, 1.0
        if len(word) >= 4:  # an unseen word may be a mishearing of a known one
            match = process.extractOne(word, self._vocabulary, scorer=fuzz.ratio,
                                       score_cutoff=WORD_MATCH)
            if match is not None:
                return match[2], match[1] / 100.0
        return None

    def _evidence(self, normalized: str, words: list[str],
                  known: list[tuple[int, float] | None]) -> np.ndarray:
        heard = np.zeros(len(self._vocabulary), dtype=np.float32)
        mass = 0.0
        for word, match in dict(zip(words, known, strict=True)).items():
            if match is None:
                mass += STOPWORD_WEIGHT if word in STOPWORDS else self._unknown_weight
                continue
            index, similarity = match
            heard[index] = max(heard[index], similarity)
            mass += float(self._weights[index])
        if mass == 0.0:
            return np.zeros(len(self.ids), dtype=np.float32)
        weighted = heard * self._weights
        matched = self._sum_per_example(weighted)
        precision = matched / mass
        recall = matched / np.maximum(self._example_mass, 1e-6)
        f1 = np.where(matched > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-9),
                      0.0)
        phrase = process.cdist([normalized], self._example_texts, scorer=fuzz.ratio,
                               dtype=np.float32)[0] / 100.0
        example = (1 - PHRASE_SHARE) * f1 + PHRASE_SHARE * phrase
        best_example = np.maximum.reduceat(example, self._group_starts)
        coverage = (self._profiles @ weighted) / mass
        scores = EXAMPLE_WEIGHT * best_example + COVERAGE_WEIGHT * coverage
        for row, keywords in enumerate(self._keywords):
            if any(f" {k} " in f" {normalized} " for k in keywords):
                scores[row] += KEYWORD_BONUS
        return scores.astype(np.float32)


def _idf(documents: list[set[str]], vocabulary: list[str]) -> np.ndarray:
    """Inverse document frequency, a document being what people say for one group."""
    frequency = Counter(s for d in documents for s in d)
    n = len(documents)
    weights = np.array([STOPWORD_WEIGHT if s in STOPWORDS else
                        math.log((n + 1) / (frequency[s] + 0.5)) for s in vocabulary],
                       dtype=np.float32)
    return np.clip(weights, STOPWORD_WEIGHT, WEIGHT_CAP)
