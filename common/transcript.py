"""What a speech recogniser heard: the message that crosses from `voice` into `intents`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float  # seconds from the start of the utterance
    end: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    confidence: float = 1.0  # 0-1, as the engine reports it (typed text: 1)
    words: tuple[Word, ...] = ()
    engine: str = ""  # "" for typed text
    # Other readings of the same speech, best first: the fast recogniser's when the accurate
    # one wins, or a decoder's runner-up. A disclosure misheard by a word may be one of these,
    # so the safety check reads them all.
    alternatives: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.text.strip()


def typed(text: str) -> Transcript:
    """Text someone typed (chat, understand --text, a Wyoming transcript): no other readings."""
    return Transcript(text)
