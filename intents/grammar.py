"""The restricted vocabulary for speech engines: every phrase the library knows how to answer,
plus the safety check's crisis phrases, so that restricting recognition can never make a
disclosure of danger unhearable."""

from __future__ import annotations

from intents.disclosures import RECOGNITION_PHRASES, crisis_corpus
from intents.library import Library
from intents.normalize import normalize, number_to_words


def grammar_phrases(library: Library) -> list[str]:
    phrases: list[str] = []
    for entry in library.intents.values():
        phrases += [normalize(p) for p in (*entry.examples, *entry.keywords, entry.title)]
    phrases += [normalize(p) for p in RECOGNITION_PHRASES]
    phrases += [f"{number_to_words(n)} minutes" for n in range(5, 125, 5)]
    return list(dict.fromkeys(p for p in phrases if p))


def recognition_sentences(library: Library) -> list[str]:
    """What a restricted recogniser should expect: the grammar phrases plus the crisis corpus."""
    return list(dict.fromkeys(grammar_phrases(library) + crisis_corpus()))
