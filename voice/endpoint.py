"""Finding utterances in a continuous stream: where speech starts, and where it has ended.

An energy detector against an adaptive noise floor. The floor is a low percentile of recent frame
energies, so it follows a fan or a fridge within a few seconds but does not rise during speech,
which always has quieter gaps between syllables. Speech starts after a few loud frames (with a
little pre-roll kept so the first consonant is not cut), and ends after a stretch of trailing
silence or at a hard maximum length, so a noisy room can never keep it listening forever.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from voice.audio import SPEECH_FORMAT, AudioChunk
from voice.convert import pcm16
from voice.settings import EndpointSettings

FRAME_SECONDS = 0.02
FRAME_SAMPLES = round(FRAME_SECONDS * SPEECH_FORMAT.rate)
SMOOTHING_FRAMES = 3


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    audio: AudioChunk  # the pre-roll and the frames that triggered the start


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    audio: AudioChunk


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    reason: str  # "silence", "max_length" or "end_of_stream"
    end: float  # stream time of the end of speech


SegmentEvent = SpeechStarted | SpeechAudio | SpeechEnded


def frame_energy_db(samples: np.ndarray) -> float:
    """RMS level of int16 samples in dB relative to full scale."""
    mean_square = float(np.mean(samples.astype(np.float64) ** 2)) / 32768.0**2
    return 10.0 * np.log10(mean_square + 1e-12)


class UtteranceSegmenter:
    """Feed 16 kHz mono chunks; get start / audio / end events back."""

    def __init__(self, settings: EndpointSettings | None = None) -> None:
        self.settings = settings or EndpointSettings()
        s = self.settings
        self._history: collections.deque[float] = collections.deque(
            maxlen=round(s.floor_window / FRAME_SECONDS))
        # Decisions use power averaged over the last few frames: single 20 ms frames of steady
        # noise wander by several dB, which would keep an utterance open forever.
        self._recent_power: collections.deque[float] = collections.deque(maxlen=SMOOTHING_FRAMES)
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_start = 0.0
        self._pre_roll: collections.deque[tuple[np.ndarray, float]] = collections.deque(
            maxlen=round(s.pre_roll / FRAME_SECONDS))
        self.reset()

    def skip(self) -> None:
        """Audio was dropped (heard while we spoke): forget the partial frame and pre-roll so
        nothing from before the gap is glued to what comes after it."""
        self._pending = np.zeros(0, dtype=np.int16)
        self._recent_power.clear()
        self.reset()

    def reset(self) -> None:
        """Forget any utterance in progress (after the assistant has spoken, say)."""
        self.in_speech = False
        self._loud_run = 0
        self._quiet_run = 0
        self._speech_frames = 0
        self._pre_roll.clear()
        self._last_loud_end = 0.0

    @property
    def quiet_seconds(self) -> float:
        """How long it has been quiet inside the utterance under way (0 outside one)."""
        return self._quiet_run * FRAME_SECONDS if self.in_speech else 0.0

    @property
    def noise_floor_db(self) -> float:
        if not self._history:
            return self.settings.quietest_db
        floor = float(np.percentile(np.fromiter(self._history, float),
                                    self.settings.floor_percentile))
        return max(floor, self.settings.quietest_db)

    def feed(self, chunk: AudioChunk) -> Iterator[SegmentEvent]:
        if chunk.format != SPEECH_FORMAT:
            raise ValueError(f"the segmenter takes {SPEECH_FORMAT}, got {chunk.format}")
        samples = pcm16(chunk)
        if len(self._pending) == 0:
            self._pending_start = chunk.timestamp
        self._pending = np.concatenate([self._pending, samples])
        while len(self._pending) >= FRAME_SAMPLES:
            frame, self._pending = self._pending[:FRAME_SAMPLES], self._pending[FRAME_SAMPLES:]
            start = self._pending_start
            self._pending_start += FRAME_SECONDS
            yield from self._frame(frame, start)

    def end_of_stream(self) -> Iterator[SegmentEvent]:
        if self.in_speech:
            if len(self._pending):
                yield SpeechAudio(_chunk(self._pending, self._pending_start))
            self._pending = np.zeros(0, dtype=np.int16)
            yield SpeechEnded("end_of_stream", self._pending_start)
            self.reset()

    def _frame(self, frame: np.ndarray, start: float) -> Iterator[SegmentEvent]:
        s = self.settings
        raw = frame_energy_db(frame)
        self._recent_power.append(10 ** (raw / 10))
        energy = 10 * np.log10(sum(self._recent_power) / len(self._recent_power))
        floor = self.noise_floor_db
        self._history.append(raw)
        if not self.in_speech:
            self._pre_roll.append((frame, start))
            self._loud_run = self._loud_run + 1 if energy > floor + s.start_margin_db else 0
            if self._loud_run * FRAME_SECONDS >= s.min_speech:
                self.in_speech = True
                self._quiet_run = 0
                self._speech_frames = len(self._pre_roll)
                self._last_loud_end = start + FRAME_SECONDS
                frames = [f for f, _ in self._pre_roll]
                first = self._pre_roll[0][1]
                self._pre_roll.clear()
                yield SpeechStarted(_chunk(np.concatenate(frames), first))
            return
        self._speech_frames += 1
        yield SpeechAudio(_chunk(frame, start))
        if energy > floor + s.continue_margin_db:
            self._quiet_run = 0
            self._last_loud_end = start + FRAME_SECONDS
        else:
            self._quiet_run += 1
        if self._quiet_run * FRAME_SECONDS >= s.trailing_silence:
            end = self._last_loud_end
            self.reset()
            yield SpeechEnded("silence", end)
        elif self._speech_frames * FRAME_SECONDS >= s.max_utterance:
            self.reset()
            yield SpeechEnded("max_length", start + FRAME_SECONDS)


def _chunk(samples: np.ndarray, timestamp: float) -> AudioChunk:
    return AudioChunk(samples.astype("<i2").tobytes(), SPEECH_FORMAT.rate, SPEECH_FORMAT.width,
                      SPEECH_FORMAT.channels, timestamp)
