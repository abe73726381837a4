"""Audio messages: a chunk of PCM samples with its format, and the speech format everything
after the input edge uses (16 kHz mono 16-bit; see voice.convert). No numpy here, so commands
that only list devices or timers stay light."""

from __future__ import annotations

from dataclasses import dataclass


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
