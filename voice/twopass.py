"""Two passes over each utterance: PocketSphinx streams as the words arrive, Whisper listens to
the whole utterance once it has ended.

The streaming pass is fast enough to act on a command the moment it is said ("stop", "slower"
during a breathing exercise: its `partial` reading, see voice.listening), and on its own it
mishears about one word in three.
Whisper hears almost every word, but only after the utterance is over and a fraction of a
second of work. The transcript is Whisper's reading; PocketSphinx's readings ride along as the
other readings, so the safety check reads both: a disclosure either pass heard is not lost.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from common.transcript import Transcript
from voice.audio import AudioChunk
from voice.stt import SpeechEngine, SpeechSession

log = logging.getLogger(__name__)

# The streaming pass's reading stands in for a Whisper invention only with this many words,
# heard with this mean word confidence (0-1).
CLEAR_WORDS = 3
CLEAR_CONFIDENCE = 0.6


class TwoPassEngine:
    def __init__(self, accurate: SpeechEngine, fast: SpeechEngine) -> None:
        self.accurate = accurate
        self.fast = fast
        self.name = f"{accurate.name}+{fast.name}"

    def start(self) -> TwoPassSession:
        return TwoPassSession(self.accurate.start(), self.fast.start(), self.name)


class TwoPassSession:
    def __init__(self, accurate: SpeechSession, fast: SpeechSession, name: str) -> None:
        self._accurate = accurate
        self._fast = fast
        self._name = name

    def accept(self, chunk: AudioChunk) -> None:
        self._fast.accept(chunk)
        self._accurate.accept(chunk)

    def partial(self) -> str:
        """The streaming pass's reading so far."""
        return self._fast.partial()

    def quick(self) -> Transcript:
        """The streaming pass's reading decided now, for a command that must act at once;
        Whisper still hears the whole utterance."""
        return self._fast.quick()

    def finish(self) -> Transcript:
        fast = self._fast.finish()
        accurate = self._accurate.finish()
        dropped = getattr(self._accurate, "dropped", None)
        return combined(accurate, fast, self._name, dropped() if dropped is not None else "")


def combined(accurate: Transcript, fast: Transcript, engine: str,
             accurate_dropped: str = "") -> Transcript:
    """Whisper's reading, with the streaming pass's readings as the other readings. When
    Whisper heard nothing (its guards dropped the text), nothing was said: the streaming pass
    alone turns noise into words far more often than it catches speech Whisper missed.

    Except when what Whisper dropped was one of its known inventions ("Thank you for
    watching."): it says those when it makes out no words, whether or not someone spoke. If
    the streaming pass heard several words clearly in the same utterance, someone did, and its
    reading is the best there is."""
    others = tuple(dict.fromkeys(t for t in (fast.text, *fast.alternatives)
                                 if t.strip() and t != accurate.text))
    if accurate.is_empty:
        if accurate_dropped == "invented" and clearly_heard(fast):
            log.debug("Whisper made nothing of it; the streaming pass heard %r", fast.text)
            return replace(fast, engine=engine)
        return replace(accurate, engine=engine, alternatives=())
    return replace(accurate, engine=engine, alternatives=others)


def clearly_heard(reading: Transcript) -> bool:
    """Several words, each heard with a fair confidence on the whole (a noise the streaming
    pass turns into words is one or two, and unsure)."""
    words = reading.words
    return (len(words) >= CLEAR_WORDS
            and sum(word.confidence for word in words) / len(words) >= CLEAR_CONFIDENCE)
