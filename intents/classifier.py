"""A linear classifier over words and word pairs, trained at start from the library's examples.

The fuzzy matcher compares an utterance with one example at a time; it cannot learn that "why"
leans towards a cause and "how do we" towards a tip, or that "pushing me away" is about distance
while "push people away" in a question about oneself is about attachment. A ridge classifier
(one-versus-rest least squares on TF-IDF features of word stems and stem pairs) learns such
discriminating words from all examples at once, the way Snips NLU paired a logistic-regression
intent classifier with its pattern parser. It is trained in about a second and cached by content
hash, so a content author's edit simply retrains it on the next start.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.dirs import writable_cache_dir
from common.files import atomic_path

log = logging.getLogger(__name__)

VERSION = "2"
PAIR_BUCKETS = 2048  # word pairs are hashed into this many features
RIDGE = 1.0  # L2 penalty


class PairFeatures:
    """Feature indices for a sequence of word indices (or None for unknown words)."""

    def __init__(self, vocabulary_size: int) -> None:
        self.vocabulary_size = vocabulary_size
        self.size = vocabulary_size + PAIR_BUCKETS

    def indices(self, words: Sequence[str], known: Sequence[int | None]) -> list[int]:
        found = [i for i in known if i is not None]
        padded = ["<s>", *words, "</s>"]
        for first, second in itertools.pairwise(padded):
            bucket = zlib.crc32(f"{first} {second}".encode()) % PAIR_BUCKETS
            found.append(self.vocabulary_size + bucket)
        return found


class RidgeClassifier:
    def __init__(self, weights: np.ndarray, idf: np.ndarray) -> None:
        self.weights = weights  # (features, classes)
        self.idf = idf

    @classmethod
    def train(cls, rows: Sequence[Sequence[int]], labels: Sequence[int], n_features: int,
              n_classes: int) -> RidgeClassifier:
        x = np.zeros((len(rows), n_features), dtype=np.float32)
        for r, indices in enumerate(rows):
            x[r, indices] = 1.0
        document_frequency = (x > 0).sum(axis=0)
        idf = (np.log((len(rows) + 1) / (document_frequency + 1)) + 1).astype(np.float32)
        x *= idf
        x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-9
        y = -np.ones((len(rows), n_classes), dtype=np.float32)
        y[np.arange(len(rows)), labels] = 1.0
        # Every class weighs the same in total, however many examples it has: otherwise the
        # out-of-scope class, with the most examples, would pull doubtful requests to itself.
        counts = np.bincount(labels, minlength=n_classes).astype(np.float32)
        balance = np.sqrt(counts.mean() / counts[np.asarray(labels)])[:, None]
        x_weighted = x * balance
        gram = x_weighted.T @ x_weighted
        gram[np.diag_indices_from(gram)] += RIDGE
        weights = np.linalg.solve(gram, x_weighted.T @ (y * balance)).astype(np.float32)
        return cls(weights, idf)

    @classmethod
    def cached(cls, rows: Sequence[Sequence[int]], labels: Sequence[int], n_features: int,
               n_classes: int, cache_dir: Path | None = None) -> RidgeClassifier:
        key = hashlib.sha256(repr((VERSION, n_features, n_classes, labels,
                                   [sorted(r) for r in rows])).encode()).hexdigest()[:16]
        path = writable_cache_dir(cache_dir) / f"classifier-{key}.npz"
        if path.is_file():
            try:
                with np.load(path) as stored:
                    return cls(stored["weights"], stored["idf"])
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
                log.warning("%s: unreadable cache (%s); retraining", path, error)
        model = cls.train(rows, labels, n_features, n_classes)
        try:
            with atomic_path(path) as temporary, temporary.open("wb") as out:
                np.savez(out, weights=model.weights, idf=model.idf)
        except OSError as error:  # still works, just slower to start next time
            log.warning("cannot cache the classifier in %s: %s", path.parent, error)
        return model

    def scores(self, indices: Sequence[int]) -> np.ndarray:
        if not indices:
            return np.zeros(self.weights.shape[1], dtype=np.float32)
        unique = np.unique(np.asarray(indices))
        values = self.idf[unique]
        values /= np.linalg.norm(values) + 1e-9
        return values @ self.weights[unique]
