"""Writes WAV files byte by byte in every layout a recorder might produce, for the edge tests."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def encode(values: np.ndarray, encoding: str) -> tuple[bytes, int, int]:
    """Interleaved float samples in [-1, 1) to (bytes, format tag, bits)."""
    v = np.clip(values, -1.0, 1.0 - 1e-9)
    if encoding == "pcm8":
        return (np.round(v * 127) + 128).astype(np.uint8).tobytes(), 1, 8
    if encoding == "pcm16":
        return np.round(v * 32767).astype("<i2").tobytes(), 1, 16
    if encoding == "pcm24":
        ints = np.round(v * (2**23 - 1)).astype("<i4")
        raw = ints.view(np.uint8).reshape(-1, 4)[:, :3]
        return raw.tobytes(), 1, 24
    if encoding == "pcm32":
        return np.round(v * (2**31 - 1)).astype("<i4").tobytes(), 1, 32
    if encoding == "float32":
        return v.astype("<f4").tobytes(), 3, 32
    raise ValueError(encoding)


def write_wav_bytes(path: Path, data: bytes, *, tag: int, bits: int, rate: int, channels: int,
                    extensible: bool = False, extra_chunk: bool = False,
                    declared_data_size: int | None = None) -> Path:
    block = channels * ((bits + 7) // 8)
    if extensible:
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * block, block, bits)
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + _GUID_TAIL
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if extra_chunk:  # a LIST chunk before the data, as many editors write
        info = b"INFOISFT\x05\x00\x00\x00test\x00\x00"
        body += b"LIST" + struct.pack("<I", len(info)) + info
    size = len(data) if declared_data_size is None else declared_data_size
    body += b"data" + struct.pack("<I", size) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def write_wav(path: Path, values: np.ndarray, rate: int, encoding: str = "pcm16",
              **options) -> Path:
    """values: shape (frames,) or (frames, channels), float in [-1, 1)."""
    values = values.reshape(len(values), -1)
    data, tag, bits = encode(values.reshape(-1), encoding)
    return write_wav_bytes(path, data, tag=tag, bits=bits, rate=rate,
                           channels=values.shape[1], **options)
