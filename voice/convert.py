"""The one conversion at the input edge: any sample rate, width and channel count to 16 kHz mono
16-bit (`SPEECH_FORMAT`), like Wyoming's AudioChunkConverter. Everything after the edge
(endpointing, noise suppression, speech engines) sees only that format, so no other module ever
resamples or downmixes."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from voice.audio import SPEECH_FORMAT, AudioChunk, AudioFormat

# --- samples <-> numpy -----------------------------------------------------------------------

_INT_DTYPES = {1: np.int8, 2: np.int16, 4: np.int32}


def to_float(chunk: AudioChunk) -> np.ndarray:
    """Samples as float32 in [-1, 1), shape (frames, channels)."""
    if chunk.width == 3:
        raw = np.frombuffer(chunk.samples, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)) << 8  # sign lands in bit 31
        values = ints.astype(np.float32) / 2**31
    elif chunk.width in _INT_DTYPES:
        dtype = np.dtype(_INT_DTYPES[chunk.width]).newbyteorder("<")
        ints = np.frombuffer(chunk.samples, dtype=dtype)
        values = ints.astype(np.float32) / float(2 ** (8 * chunk.width - 1))
    else:
        raise ValueError(f"unsupported sample width {chunk.width}")
    return values.reshape(-1, chunk.channels)


def from_float(values: np.ndarray, rate: int, timestamp: float = 0.0) -> AudioChunk:
    """Mono float samples to a 16-bit chunk (clipped, rounded)."""
    ints = np.clip(np.round(values * 32768.0), -32768, 32767).astype("<i2")
    return AudioChunk(ints.tobytes(), rate, 2, 1, timestamp)


def pcm16(chunk: AudioChunk) -> np.ndarray:
    """A 16-bit mono chunk's samples as int16 (no copy)."""
    return np.frombuffer(chunk.samples, dtype="<i2")


# --- resampling ------------------------------------------------------------------------------


class Resampler:
    """Streaming band-limited resampler (windowed sinc, polyphase table).

    Output sample n sits at input position n * in_rate / out_rate. Its value is a weighted sum of
    the input samples around that position, with the kernel's cutoff at the lower Nyquist rate so
    downsampling does not alias. State carries across `process` calls, so chunk boundaries are
    invisible in the output.
    """

    def __init__(self, in_rate: int, out_rate: int, half_width: int = 16) -> None:
        g = math.gcd(in_rate, out_rate)
        self.up, self.down = out_rate // g, in_rate // g
        cutoff = min(1.0, self.up / self.down) * 0.97  # a little below Nyquist
        self.taps_per_side = math.ceil(half_width / cutoff)
        k = self.taps_per_side
        offsets = np.arange(-k + 1, k + 1)  # input index relative to floor(position)
        phases = np.arange(self.up)[:, None] / self.up
        t = offsets[None, :] - phases
        window = np.clip(0.5 + 0.5 * np.cos(np.pi * t / k), 0.0, None)  # Hann, zero outside +-k
        table = cutoff * np.sinc(cutoff * t) * window
        self._table = (table / table.sum(axis=1, keepdims=True)).astype(np.float32)
        self._offsets = offsets
        # Start with k zeros of history so the first outputs have left context.
        self._buffer = np.zeros(k, dtype=np.float32)
        self._buffer_start = -k  # absolute input index of _buffer[0]
        self._inputs_seen = 0
        self._next_output = 0

    def process(self, samples: np.ndarray) -> np.ndarray:
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        self._inputs_seen += len(samples)
        # Output n needs inputs up to floor(n*down/up) + k.
        last_usable = self._inputs_seen - 1 - self.taps_per_side
        return self._emit(last_usable)

    def flush(self) -> np.ndarray:
        """Emit the outputs still owed for the input seen so far, padding with zeros."""
        k = self.taps_per_side
        self._buffer = np.concatenate([self._buffer, np.zeros(k, dtype=np.float32)])
        total_outputs = math.ceil(self._inputs_seen * self.up / self.down)
        out = self._emit(self._inputs_seen - 1, limit=total_outputs)
        self._buffer = self._buffer[:-k]
        return out

    def _emit(self, last_base: int, limit: int | None = None) -> np.ndarray:
        if last_base < 0:
            return np.zeros(0, dtype=np.float32)
        # The outputs n with floor(n * down / up) <= last_base.
        end = ((last_base + 1) * self.up - 1) // self.down + 1
        if limit is not None:
            end = min(end, limit)
        n = np.arange(self._next_output, end, dtype=np.int64)
        if len(n) == 0:
            return np.zeros(0, dtype=np.float32)
        bases = (n * self.down) // self.up
        phases = (n * self.down) % self.up
        index = bases[:, None] + self._offsets[None, :] - self._buffer_start
        out = np.einsum("ij,ij->i", self._buffer[index], self._table[phases])
        self._next_output = int(end)
        # Drop history that no later output can reach.
        keep_from = (end * self.down) // self.up - self.taps_per_side + 1 - self._buffer_start
        if keep_from > 0:
            self._buffer = self._buffer[keep_from:]
            self._buffer_start += keep_from
        return out.astype(np.float32, copy=False)


class AudioChunkConverter:
    """Converts any incoming chunks, once, to `target` (default 16 kHz mono 16-bit).

    Keeps resampler state between chunks; call `flush` at the end of the stream.
    """

    def __init__(self, target: AudioFormat = SPEECH_FORMAT) -> None:
        if target.width != 2 or target.channels != 1:
            raise ValueError("the converter produces 16-bit mono audio")
        self.target = target
        self._resampler: Resampler | None = None
        self._source_rate: int | None = None
        self._out_frames = 0
        self._start: float | None = None

    def convert(self, chunk: AudioChunk) -> AudioChunk:
        if self._start is None:
            self._start = chunk.timestamp
        if chunk.format == self.target:
            self._out_frames += chunk.frames
            return chunk
        mono = to_float(chunk).mean(axis=1)
        if chunk.rate != self.target.rate:
            if self._source_rate != chunk.rate:
                self._resampler = Resampler(chunk.rate, self.target.rate)
                self._source_rate = chunk.rate
            mono = self._resampler.process(mono)
        return self._stamp(mono)

    def flush(self) -> AudioChunk | None:
        if self._resampler is None:
            return None
        tail = self._resampler.flush()
        return self._stamp(tail) if len(tail) else None

    def _stamp(self, mono: np.ndarray) -> AudioChunk:
        timestamp = (self._start or 0.0) + self._out_frames / self.target.rate
        self._out_frames += len(mono)
        return from_float(mono, self.target.rate, timestamp)


def convert_all(chunks: Iterator[AudioChunk] | list[AudioChunk],
                target: AudioFormat = SPEECH_FORMAT) -> AudioChunk:
    """Convert a whole stream and join it into one chunk."""
    converter = AudioChunkConverter(target)
    parts = [converter.convert(c).samples for c in chunks]
    tail = converter.flush()
    if tail is not None:
        parts.append(tail.samples)
    return AudioChunk(b"".join(parts), target.rate, target.width, target.channels)
