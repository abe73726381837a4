"""Audio messages, WAV files, and the one conversion to 16 kHz mono 16-bit at the input edge.

Everything after the edge (endpointing, speech engines) sees only `SPEECH_FORMAT`, so no other
module ever resamples or downmixes. WAV files are parsed here rather than with `wave`, because the
standard module refuses WAVE_FORMAT_EXTENSIBLE and float files, which ordinary recorders write.
"""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice.errors import AudioFileError

MIN_RATE = 8_000
MAX_RATE = 192_000
MAX_CHANNELS = 8


@dataclass(frozen=True, slots=True)
class AudioFormat:
    rate: int
    width: int  # bytes per sample
    channels: int

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.width * self.channels


SPEECH_FORMAT = AudioFormat(rate=16_000, width=2, channels=1)


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Little-endian signed integer PCM samples, interleaved, with their format.

    `timestamp` is the time of the first sample in seconds since the stream started.
    """

    samples: bytes
    rate: int
    width: int
    channels: int
    timestamp: float = 0.0

    @property
    def format(self) -> AudioFormat:
        return AudioFormat(self.rate, self.width, self.channels)

    @property
    def frames(self) -> int:
        return len(self.samples) // (self.width * self.channels)

    @property
    def duration(self) -> float:
        return self.frames / self.rate

    @property
    def end(self) -> float:
        return self.timestamp + self.duration


def silence(seconds: float, fmt: AudioFormat = SPEECH_FORMAT, timestamp: float = 0.0) -> AudioChunk:
    frames = round(seconds * fmt.rate)
    return AudioChunk(bytes(frames * fmt.width * fmt.channels), fmt.rate, fmt.width,
                      fmt.channels, timestamp)


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


# --- WAV files -------------------------------------------------------------------------------

_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE
_KNOWN_ENCODINGS = {
    0x0002: "Microsoft ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
}


@dataclass(frozen=True, slots=True)
class WavInfo:
    path: Path
    is_float: bool
    rate: int
    width: int
    channels: int
    data_offset: int
    data_bytes: int

    @property
    def frames(self) -> int:
        return self.data_bytes // (self.width * self.channels)

    @property
    def duration(self) -> float:
        return self.frames / self.rate


def read_wav_info(path: Path | str) -> WavInfo:
    """Parse and check a WAV header; every problem becomes one `AudioFileError` line."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            return _parse_wav_header(path, f, size)
    except FileNotFoundError:
        raise AudioFileError(path, "no such file") from None
    except IsADirectoryError:
        raise AudioFileError(path, "is a directory, not a WAV file") from None
    except PermissionError:
        raise AudioFileError(path, "permission denied") from None


def _parse_wav_header(path: Path, f, size: int) -> WavInfo:
    if size == 0:
        raise AudioFileError(path, "empty file (0 bytes), not a WAV")
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        raise AudioFileError(path, "not a WAV file (no RIFF/WAVE header)")
    if head[:4] != b"RIFF":
        raise AudioFileError(path, f"unsupported {head[:4].decode()} WAV variant; use plain RIFF")
    fmt: tuple[int, int, int, int] | None = None
    while True:
        header = f.read(8)
        if len(header) < 8:
            missing = "'fmt ' chunk" if fmt is None else "'data' chunk"
            raise AudioFileError(path, f"truncated: no {missing} before the end of the file")
        chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(path, f.read(chunk_size))
            f.seek(chunk_size % 2, 1)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioFileError(path, "'data' chunk comes before the 'fmt ' chunk")
            offset = f.tell()
            available = size - offset
            if chunk_size in {0, 0xFFFFFFFF}:
                chunk_size = available  # written by a streaming recorder; read to the end
            tag, channels, rate, width = fmt
            if chunk_size > available:
                promised = chunk_size / (rate * width * channels)
                held = available / (rate * width * channels)
                raise AudioFileError(
                    path, f"truncated: header promises {promised:.2f} s of audio, "
                    f"file holds {held:.2f} s")
            frames = chunk_size // (width * channels)
            if frames == 0:
                raise AudioFileError(path, "contains no audio (0 samples)")
            return WavInfo(path, tag == _FLOAT, rate, width, channels, offset,
                           frames * width * channels)
        else:
            f.seek(chunk_size + chunk_size % 2, 1)


def _parse_fmt(path: Path, body: bytes) -> tuple[int, int, int, int]:
    if len(body) < 16:
        raise AudioFileError(path, "truncated 'fmt ' chunk")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the sub-format GUID
    if tag not in (_PCM, _FLOAT):
        name = _KNOWN_ENCODINGS.get(tag, f"format code 0x{tag:04x}")
        raise AudioFileError(path, f"unsupported encoding {name}; only PCM or float WAV works "
                             "(convert with: sox IN.wav -b 16 OUT.wav)")
    width = (bits + 7) // 8
    if tag == _PCM and width not in (1, 2, 3, 4):
        raise AudioFileError(path, f"unsupported sample size of {bits} bits")
    if tag == _FLOAT and width not in (4, 8):
        raise AudioFileError(path, f"unsupported float sample size of {bits} bits")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFileError(path, f"unsupported channel count {channels}")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFileError(path, f"unsupported sample rate {rate} Hz "
                             f"(use {MIN_RATE}-{MAX_RATE} Hz)")
    return tag, channels, rate, width


def iter_wav_chunks(path: Path | str, chunk_seconds: float = 0.1,
                    info: WavInfo | None = None) -> Iterator[AudioChunk]:
    """Stream a WAV file's audio as chunks in the file's own rate and channels.

    8-bit (unsigned in WAV) becomes signed 8-bit and float becomes 32-bit integer, so chunks are
    always signed integer PCM.
    """
    info = info or read_wav_info(path)
    frame_bytes = info.width * info.channels
    chunk_frames = max(1, round(chunk_seconds * info.rate))
    remaining = info.data_bytes
    position = 0
    with Path(path).open("rb") as f:
        f.seek(info.data_offset)
        while remaining > 0:
            data = f.read(min(chunk_frames * frame_bytes, remaining))
            if not data:
                raise AudioFileError(path, "file shrank while it was being read")
            remaining -= len(data)
            data = data[: len(data) - len(data) % frame_bytes]
            chunk = _as_signed_pcm(data, info, position / info.rate)
            position += chunk.frames
            yield chunk


def _as_signed_pcm(data: bytes, info: WavInfo, timestamp: float) -> AudioChunk:
    if info.is_float:
        dtype = "<f4" if info.width == 4 else "<f8"
        values = np.clip(np.frombuffer(data, dtype=dtype), -1.0, 1.0)
        ints = np.clip(np.round(values * 2147483647.0), -(2**31), 2**31 - 1).astype("<i4")
        return AudioChunk(ints.tobytes(), info.rate, 4, info.channels, timestamp)
    if info.width == 1:
        signed = (np.frombuffer(data, dtype=np.uint8).astype(np.int16) - 128).astype(np.int8)
        return AudioChunk(signed.tobytes(), info.rate, 1, info.channels, timestamp)
    return AudioChunk(data, info.rate, info.width, info.channels, timestamp)


def read_speech_wav(path: Path | str) -> AudioChunk:
    """A whole WAV file converted to `SPEECH_FORMAT`."""
    return convert_all(iter_wav_chunks(path))


class WavWriter:
    """Appends 16-bit mono audio to a WAV file; the header is kept valid after every write,
    so a crash loses nothing already written."""

    def __init__(self, path: Path | str, rate: int) -> None:
        self.path = Path(path)
        self.rate = rate
        self.frames_written = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
        except OSError as error:
            raise AudioFileError(self.path, f"cannot write: {error.strerror or error}") from None
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)

    @property
    def seconds_written(self) -> float:
        return self.frames_written / self.rate

    def write(self, chunk: AudioChunk) -> None:
        if chunk.rate != self.rate or chunk.width != 2 or chunk.channels != 1:
            raise ValueError(f"WavWriter for {self.rate} Hz mono 16-bit got {chunk.format}")
        self._wav.writeframes(chunk.samples)
        self.frames_written += chunk.frames

    def close(self) -> None:
        self._wav.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_wav(path: Path | str, chunk: AudioChunk) -> None:
    """Write one 16-bit mono chunk as a whole WAV file."""
    with WavWriter(path, chunk.rate) as writer:
        writer.write(chunk)
