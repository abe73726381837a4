"""The semantic signal: how close an utterance is, in meaning, to what the library knows.

Sentence embeddings (intents/embeddings.py) of every intent's examples, the out-of-scope
examples, the written disclosures of danger and the everyday talk that sounds like them. For
one utterance, `Meaning.read` gives the closest cosine to each intent, to a disclosure, and to
ordinary talk. The lexical matcher and the safety rules stay; this is a second opinion learned
from far more language than the library holds ("I dread him coming home" shares no word with
"I'm afraid of my partner", and sits next to it here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.dirs import writable_cache_dir
from intents.catalog import NONE
from intents.embeddings import EmbeddingIndex, SentenceEncoder
from intents.library import Library
from intents.normalize import normalize

log = logging.getLogger(__name__)

DANGER = "danger"
ORDINARY = "ordinary"


@dataclass(frozen=True, slots=True)
class Closeness:
    intents: Mapping[str, float]  # intent id (and "none") -> best cosine to its examples
    danger: float  # best cosine to a written disclosure of danger
    ordinary: float  # best cosine to anything ordinary: everyday talk, requests, other talk

    @property
    def leans_to_danger(self) -> float:
        """How much closer to a disclosure than to anything ordinary (negative: further)."""
        return self.danger - self.ordinary


class Meaning:
    def __init__(self, library: Library, cache_dir: Path | None = None,
                 encoder: SentenceEncoder | None = None,
                 notice: Callable[[str], None] | None = None) -> None:
        """`notice` hears, in one line, about slow work done once (see EmbeddingIndex)."""
        cache = writable_cache_dir(cache_dir)
        self.encoder = encoder or SentenceEncoder(cache, int8=True)
        requests = [(normalize(example), entry.id) for entry in library.intents.values()
                    for example in entry.examples]
        requests += [(normalize(example), NONE) for example in library.out_of_scope]
        self._requests = EmbeddingIndex(self.encoder, requests, cache, notice)
        # The written disclosures, not the rules' generated sentences ("he pushes me when"):
        # fragments like those sit close to far too much ordinary talk.
        talk = [(normalize(d), DANGER) for d in library.disclosures]
        talk += [(normalize(e), ORDINARY) for e in library.everyday]
        self._talk = EmbeddingIndex(self.encoder, talk, cache, notice)
        self._danger = self._talk.groups.index(DANGER)
        self._everyday = self._talk.groups.index(ORDINARY)

    @property
    def embedded(self) -> int:
        """Phrases that had to be embedded at start (0 once the cache is warm)."""
        return self._requests.embedded + self._talk.embedded

    def read(self, normalized: str) -> Closeness:
        vector = self.encoder.encode_one(normalized)
        requests = self._requests.group_scores(vector)
        talk = self._talk.group_scores(vector)
        intents = dict(zip(self._requests.groups, requests.tolist(), strict=True))
        ordinary = max(float(talk[self._everyday]), float(np.max(requests)))
        return Closeness(intents, float(talk[self._danger]), ordinary)
