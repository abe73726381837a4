"""Soft tones for breathing without words: rising while breathing in, falling while breathing
out, generated in code so no audio files are needed."""

from __future__ import annotations

import numpy as np

from voice.audio import AudioChunk
from voice.convert import from_float

LOW_HZ, HIGH_HZ = 196.0, 294.0  # G3 to D4: low and unhurried
LEVEL = 0.2  # quiet, well below speech
FADE = 0.25  # seconds of raised-cosine fade at each end


def breathing_tone(kind: str, seconds: float, rate: int = 22_050) -> AudioChunk:
    """A glide across the phase: up for in (and a short lift for a top-up breath), down for
    out. Holds have no tone: their silence is when the coach can hear "stop"."""
    n = max(1, round(seconds * rate))
    if kind == "in":
        start, end, level = LOW_HZ, HIGH_HZ, LEVEL
    elif kind == "top_up":
        start, end, level = HIGH_HZ, HIGH_HZ * 1.12, LEVEL
    elif kind == "out":
        start, end, level = HIGH_HZ, LOW_HZ, LEVEL
    else:
        raise ValueError(f"no tone for phase {kind!r}")
    t = np.arange(n) / rate
    frequency = start * (end / start) ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(frequency) / rate
    # A little of the octave above makes it a soft note rather than a test beep.
    wave = np.sin(phase) + 0.25 * np.sin(2 * phase)
    fade = min(FADE, seconds / 3)
    ramp = np.ones(n)
    k = max(1, round(fade * rate))
    shape = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, k))
    ramp[:k] = shape
    ramp[-k:] = shape[::-1]
    return from_float(level / 1.25 * wave * ramp, rate)


CHIME_NOTES = (587.33, 880.0)  # D5 then A5: a rising fifth, "I'm listening"
CHIME_NOTE_SECONDS = 0.09


def wake_chime(rate: int = 22_050) -> AudioChunk:
    """The short soft sound played when the wake phrase is heard: two quick notes, each with a
    bell-like decay, quieter than the breathing tones."""
    n = round(CHIME_NOTE_SECONDS * rate)
    t = np.arange(n) / rate
    envelope = np.minimum(1.0, t / 0.005) * np.exp(-t / 0.04)
    notes = [np.sin(2 * np.pi * hz * t) * envelope for hz in CHIME_NOTES]
    return from_float(0.6 * LEVEL * np.concatenate(notes), rate)
