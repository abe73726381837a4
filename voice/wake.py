"""Hands-free: a wake phrase ("hey coach") before each request, spotted on PocketSphinx's
keyword-spotting search, which needs no download and runs on a Raspberry Pi.

`WakeSpotter` listens to every chunk of the stream on the listening thread and says when the
phrase was heard. `Attention` decides, for each finished utterance, whether it was meant for
the coach: with the wake phrase (in the recogniser's words, helped by the spotter), or within
the follow-up window after an answer. What is not meant for the coach is still read for
danger by the loop (a disclosure is answered whether or not the phrase was said).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from common.errors import UsageError
from voice.audio import AudioChunk
from voice.pocketsphinx_engine import CMN_PRIOR

log = logging.getLogger(__name__)

# PocketSphinx's keyword-spotting threshold: lower spots more (and wakes falsely more). Chosen
# with the wake benchmark (bench/wake.py; figures in bench/README.md).
DEFAULT_THRESHOLD = 1e-30
# A spot this long before an utterance's start still belongs to it ("hey coach ... help").
SPOT_REACH = 1.5
RESTART_SECONDS = 30.0  # the search restarts this often, so it never holds a long utterance
SOUNDS_LIKE = 70  # spelling similarity (0-100) of the first words to the phrase, after a spot


@dataclass(frozen=True, slots=True)
class WakeSettings:
    phrase: str = "hey coach"
    follow_up: float = 8.0  # seconds after an answer in which no wake phrase is needed
    threshold: float = DEFAULT_THRESHOLD


class WakeSpotter:
    """Keyword spotting on one PocketSphinx decoder of its own. `accept` takes 16 kHz mono
    16-bit chunks in stream order and returns the stream time at which the phrase ended, or
    None."""

    def __init__(self, settings: WakeSettings) -> None:
        import pocketsphinx

        self.phrase = settings.phrase
        self._decoder = pocketsphinx.Decoder(keyphrase=settings.phrase,
                                             kws_threshold=settings.threshold,
                                             loglevel="FATAL")
        unknown = [w for w in settings.phrase.split() if self._decoder.lookup_word(w) is None]
        if unknown:
            raise UsageError(f"wake phrase {settings.phrase!r}: the recogniser does not know "
                             f"the word {unknown[0]!r}; choose a phrase of common English words")
        self._started_at: float | None = None

    def accept(self, chunk: AudioChunk) -> float | None:
        if self._started_at is None:
            self._start(chunk.timestamp)
        self._decoder.process_raw(chunk.samples, False, False)
        if self._decoder.hyp() is not None:
            self._decoder.end_utt()
            self._started_at = None
            log.debug("wake phrase at %.2f s", chunk.end)
            return chunk.end
        if chunk.end - self._started_at >= RESTART_SECONDS:
            self._decoder.end_utt()
            self._started_at = None
        return None

    def _start(self, at: float) -> None:
        # Each search starts from the average speech channel, as the recogniser does; a
        # search started from PocketSphinx's own default misses the first seconds.
        self._decoder.set_cmn(CMN_PRIOR)
        self._decoder.start_utt()
        self._started_at = at


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """The phrase at the start, or after a word or two ("okay, hey coach"), in any case and
    punctuation."""
    words = [re.escape(w) for w in phrase.lower().split()]
    return re.compile(r"^\W*(?:[\w']+\W+){0,2}?" + r"\W+".join(words) + r"\b\W*",
                      re.IGNORECASE)


class Attention:
    """Whether each utterance was meant for the coach. Times are stream seconds.

    The keyword search alone wakes too often on other speech (bench/README.md), so a spot
    counts only with the recogniser's words: the phrase itself in the first few words, or,
    when the search spotted it during the utterance, words that begin like it ("Hey, Coach",
    "hey couch"). The words alone also count: the recogniser hears the phrase in noise and in
    voices where the search misses it."""

    def __init__(self, settings: WakeSettings) -> None:
        self.settings = settings
        self._said = _phrase_pattern(settings.phrase)
        self._spotted: list[float] = []  # recent spots, oldest first
        self._open_until = float("-inf")  # the follow-up window after an answer

    def spotted(self, at: float) -> None:
        self._spotted = [t for t in self._spotted if t > at - 60.0] + [at]

    def answered(self, at: float) -> None:
        """An answer ended at `at`: a follow-up may start without the phrase until then."""
        self._open_until = at + self.settings.follow_up

    def addressed(self, text: str, start: float, end: float) -> bool:
        """Meant for the coach: it began inside the follow-up window, or its words carry the
        phrase (see the class)."""
        if start <= self._open_until or self._said.match(text):
            return True
        spotted = any(start - SPOT_REACH <= t <= end for t in self._spotted)
        return spotted and self._begins_like_the_phrase(text)

    def _begins_like_the_phrase(self, text: str) -> bool:
        words = re.findall(r"[\w']+", text.lower())[:len(self.settings.phrase.split())]
        return fuzz.ratio(" ".join(words), self.settings.phrase.lower()) >= SOUNDS_LIKE

    def request(self, text: str) -> str:
        """What was asked, without the wake phrase in front ("" if that was all)."""
        if self._said.match(text):
            return self._said.sub("", text, count=1).strip()
        if self._begins_like_the_phrase(text):
            count = len(self.settings.phrase.split())
            return " ".join(re.findall(r"\S+", text)[count:]).strip(" ,.!?")
        return text  # a follow-up, said without the phrase
