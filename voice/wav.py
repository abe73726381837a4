"""WAV files in and out. Parsed here rather than with `wave`, because the standard module refuses
WAVE_FORMAT_EXTENSIBLE and float files, which ordinary recorders write; every problem with a
file is one `AudioFileError` line naming it."""

from __future__ import annotations

import io
import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import AudioFileError
from voice.audio import AudioChunk
from voice.convert import convert_all

MIN_RATE = 8_000
MAX_RATE = 192_000
MAX_CHANNELS = 8
STREAMING_SIZE = 0x7FFF0000  # a data size this large, beyond the file's end, is a placeholder

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


def parse_wav_bytes(data: bytes, origin: str) -> AudioChunk:
    """A whole WAV held in memory (a program's output) as one chunk, in its own rate."""
    info = _parse_wav_header(Path(origin), io.BytesIO(data), len(data))
    body = data[info.data_offset:info.data_offset + info.data_bytes]
    return _as_signed_pcm(body, info, 0.0)


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
            if chunk_size == 0 or (chunk_size > available and chunk_size >= STREAMING_SIZE):
                # A streaming writer (arecord to a pipe, espeak-ng --stdout, a recorder killed
                # mid-way) could not know the size and wrote 0 or a huge placeholder
                # (0x7FFFF000, 0x7FFFFFFE, 0xFFFFFFFF): read to the end of the file.
                chunk_size = available
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
