"""Noise suppression at the input edge: a streaming spectral (Wiener-style) filter.

Steady noise (a fan, traffic hum, a fridge) is estimated per frequency from the quietest
moments of the last second or two (minimum statistics), so no "noise-only" stretch is needed
and speech never raises the estimate for long. Each frequency is then turned down by how much
of its energy is noise, never below a floor, with the gain smoothed over time so it does not
warble. Runs on 16 kHz mono audio in any chunk size; output lags input by one frame (32 ms).
"""

from __future__ import annotations

import collections

import numpy as np

from voice.audio import SPEECH_FORMAT, AudioChunk
from voice.convert import from_float, to_float

FRAME = 512  # 32 ms at 16 kHz
HOP = 128  # 75 % overlap
HISTORY_FRAMES = 188  # ~1.5 s of frames for the minimum search
PERCENTILE = 20  # of the recent power per frequency, as the noise estimate
OVER_SUBTRACTION = 4.0  # how much of that estimate to remove
FLOOR_DB = -16.0  # never turn a frequency down more than this
SMOOTHING = 0.4  # share of the previous frame's gain kept
REESTIMATE_EVERY = 8  # frames (64 ms): noise changes slowly, and the estimate is the costly part
QUIET_ROOM_DB = -50.0  # below this noise level (dBFS) the audio passes untouched


class NoiseSuppressor:
    def __init__(self) -> None:
        self._window = np.hanning(FRAME + 1)[:-1].astype(np.float32)
        # Hann at 75 % overlap sums (squared) to 1.5: divide it out on the way back.
        self._scale = 1.0 / (np.sum(self._window**2) / HOP)
        self._input = np.zeros(FRAME - HOP, dtype=np.float32)
        self._output = np.zeros(FRAME, dtype=np.float32)
        self._history: collections.deque[np.ndarray] = collections.deque(maxlen=HISTORY_FRAMES)
        self._gain = np.ones(FRAME // 2 + 1, dtype=np.float32)
        self._floor = np.float32(10 ** (FLOOR_DB / 10))
        self._noise = np.zeros(FRAME // 2 + 1, dtype=np.float32)
        # Power of a full-scale frame through the window, to express noise in dBFS.
        self._window_energy = float(np.sum(self._window**2)) * FRAME / 2
        self._frames = 0
        self._emitted = 0
        self._start: float | None = None

    def process(self, chunk: AudioChunk) -> AudioChunk:
        if chunk.format != SPEECH_FORMAT:
            raise ValueError(f"the noise suppressor takes {SPEECH_FORMAT}, got {chunk.format}")
        if self._start is None:
            self._start = chunk.timestamp
        samples = np.concatenate([self._input, to_float(chunk)[:, 0]])
        out = []
        position = 0
        while position + FRAME <= len(samples):
            out.append(self._frame(samples[position:position + FRAME]))
            position += HOP
        self._input = samples[position:]
        values = np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
        stamped = from_float(values, SPEECH_FORMAT.rate,
                             self._start + self._emitted / SPEECH_FORMAT.rate)
        self._emitted += len(values)
        return stamped

    def _frame(self, frame: np.ndarray) -> np.ndarray:
        spectrum = np.fft.rfft(frame * self._window)
        power = spectrum.real**2 + spectrum.imag**2
        self._history.append(power)
        if self._frames % REESTIMATE_EVERY == 0:
            estimate = np.percentile(np.asarray(self._history), PERCENTILE, axis=0)
            # In a quiet room there is nothing to remove, and removing it would only nibble
            # at the speech: leave the audio as it is.
            level = 10 * np.log10(estimate.sum() / self._window_energy + 1e-12)
            self._noise = estimate * OVER_SUBTRACTION if level > QUIET_ROOM_DB else 0.0
        self._frames += 1
        gain = np.maximum(1.0 - self._noise / (power + 1e-12), self._floor)
        self._gain = SMOOTHING * self._gain + (1 - SMOOTHING) * gain
        cleaned = np.fft.irfft(spectrum * np.sqrt(self._gain), FRAME) * self._window
        self._output += cleaned * self._scale
        ready, self._output = self._output[:HOP].copy(), np.concatenate(
            [self._output[HOP:], np.zeros(HOP, dtype=np.float32)])
        return ready


LAG = FRAME - HOP  # samples: output sample n is input sample n - LAG


class CleanTrack:
    """The denoised stream, kept aligned with the raw one by sample index.

    Speech detection runs on the raw audio (steady noise is steady there; after suppression
    its remains flicker, which a level detector takes for speech), while the recogniser gets
    the cleaned audio for the same stretch of time.
    """

    def __init__(self, keep_seconds: float = 30.0) -> None:
        self._suppressor = NoiseSuppressor()
        self._samples = np.zeros(0, dtype=np.int16)
        self._first = -LAG  # input sample index of _samples[0]
        self._keep = round(keep_seconds * SPEECH_FORMAT.rate)
        self._origin: float | None = None

    def push(self, chunk: AudioChunk) -> None:
        if self._origin is None:
            self._origin = chunk.timestamp
        cleaned = np.frombuffer(self._suppressor.process(chunk).samples, dtype="<i2")
        self._samples = np.concatenate([self._samples, cleaned])
        if len(self._samples) > self._keep:  # forget what no utterance can still need
            drop = len(self._samples) - self._keep
            self._samples = self._samples[drop:]
            self._first += drop

    def index(self, timestamp: float) -> int:
        return round((timestamp - (self._origin or 0.0)) * SPEECH_FORMAT.rate)

    def take(self, start: int, end: int) -> AudioChunk:
        """Cleaned audio for input samples [start, end), as far as it is ready."""
        lo = max(start, self._first)
        hi = min(end, self._first + len(self._samples))
        piece = self._samples[lo - self._first:hi - self._first] if hi > lo else self._samples[:0]
        timestamp = (self._origin or 0.0) + lo / SPEECH_FORMAT.rate
        return AudioChunk(piece.astype("<i2").tobytes(), SPEECH_FORMAT.rate, 2, 1, timestamp)
