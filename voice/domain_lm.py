"""A language model for PocketSphinx built from the tip library, so the embedded engine listens
for what people say to a trust coach rather than for all of English.

Three parts, in one ARPA trigram model:
* every example phrase, keyword and title of the library, with its word order (the domain);
* the safety check's crisis sentences, so a restricted model never makes a disclosure of danger
  harder to hear than a request for a tip;
* the commonest words of the general English model as unigrams, an open path that lets
  out-of-scope speech come out as ordinary words (and so be rejected) instead of being forced
  into the nearest library phrase.

Built in well under a second and cached by content hash, so editing the library rebuilds it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from common.dirs import writable_cache_dir
from common.files import atomic_path
from intents.phonetics import read_pronunciations

log = logging.getLogger(__name__)

BUILDER_VERSION = "1"
GENERAL_WORDS = 8000  # the open vocabulary's size; see bench notes for the trade-off
DISCOUNT_MASS = 0.5


@dataclass(frozen=True, slots=True)
class DomainModel:
    lm: Path
    dictionary: Path

    def decoder_options(self) -> dict[str, object]:
        return {"lm": str(self.lm), "dict": str(self.dictionary)}


def build_domain_model(sentences: Iterable[str], cache_dir: Path | None = None,
                       general_words: int = GENERAL_WORDS,
                       notice: Callable[[str], None] | None = None) -> DomainModel:
    corpus = sorted({s.strip() for s in sentences if s.strip()})
    key = hashlib.sha256("\n".join([BUILDER_VERSION, str(general_words), *corpus]).encode())
    folder = writable_cache_dir(cache_dir) / f"lm-{key.hexdigest()[:16]}"
    model = DomainModel(folder / "domain.lm", folder / "domain.dict")
    if model.lm.is_file() and model.dictionary.is_file():
        return model
    (notice or log.info)("building the recogniser's language model from the content library "
                         "(once; cached afterwards)")
    folder.mkdir(parents=True, exist_ok=True)
    _write(model, corpus, general_words)
    return model


def _write(model: DomainModel, corpus: list[str], general_words: int) -> None:
    import pocketsphinx
    from pocketsphinx.lm import ArpaBoLM

    model_dir = Path(pocketsphinx.get_model_path()) / "en-us"
    pronunciations = read_pronunciations(model_dir / "cmudict-en-us.dict")
    kept, dropped = [], set()
    for sentence in corpus:
        words = sentence.split()
        unknown = [w for w in words if w not in pronunciations]
        dropped.update(unknown)
        if len(unknown) < len(words):
            kept.append(" ".join(w for w in words if w in pronunciations))
    if dropped:
        log.info("no pronunciation for %d words (left out): %s", len(dropped),
                 ", ".join(sorted(dropped)[:20]))
    lm = ArpaBoLM(text="\n".join(kept), add_start=True, discount_mass=DISCOUNT_MASS)
    for word in _general_vocabulary(model_dir, pronunciations, general_words):
        if word not in lm.grams_1:
            lm.grams_1[word] = 1
    lm.compute()
    lm.sent_count = len(kept)  # the builder reads this when writing its header
    vocabulary = sorted(set(lm.grams_1) - {"<s>", "</s>"})
    # The dictionary first: the model's presence is what says the cache is complete.
    with atomic_path(model.dictionary) as temporary, temporary.open("w", encoding="utf-8") as out:
        for word in vocabulary:
            for line in pronunciations[word]:
                out.write(line)
    with atomic_path(model.lm) as temporary, temporary.open("w", encoding="utf-8") as out:
        lm.write(out)


def _general_vocabulary(model_dir: Path, pronunciations: dict[str, list[str]],
                        count: int) -> list[str]:
    """The `count` most probable words of the wheel's general English model."""
    if count <= 0:
        return []
    import pocketsphinx

    general = pocketsphinx.NGramModel(pocketsphinx.Config(), pocketsphinx.LogMath(),
                                      str(model_dir / "en-us.lm.bin"))
    scored = sorted(((general.prob([w]), w) for w in pronunciations if w.isalpha()),
                    reverse=True)
    return [w for _, w in scored[:count]]
