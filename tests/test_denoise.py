"""Noise suppression at the input edge."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import recordings

from voice.audio import AudioChunk
from voice.convert import pcm16
from voice.denoise import LAG, CleanTrack, NoiseSuppressor
from voice.listening import transcribe_recording
from voice.wav import read_speech_wav


def _pink(seconds: float, level_db: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * 16_000)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.fft.rfftfreq(n, 1 / 16_000)[1:])
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / np.sqrt(np.mean(noise**2)) * 10 ** (level_db / 20)


def _chunk(values: np.ndarray) -> AudioChunk:
    return AudioChunk(np.round(values * 32767).astype("<i2").tobytes(), 16_000, 2, 1)


def _level(chunk: AudioChunk, skip: int = 16_000) -> float:
    x = pcm16(chunk).astype(np.float64)[skip:] / 32768
    return 10 * np.log10(np.mean(x**2))


def test_steady_noise_is_turned_down():
    noisy = _chunk(_pink(4.0, -30))
    assert _level(NoiseSuppressor().process(noisy)) < _level(noisy) - 2.5


def test_a_quiet_room_passes_untouched():
    speech = read_speech_wav(recordings()[0].path)
    out = pcm16(NoiseSuppressor().process(speech)).astype(np.int32)
    original = pcm16(speech).astype(np.int32)
    # the same samples, one frame late
    assert np.abs(out[LAG:] - original[: len(out) - LAG]).max() <= 1


@pytest.mark.parametrize("size", [160, 1000, 4800])
def test_chunk_size_does_not_matter(size):
    noisy = _chunk(_pink(2.0, -30, seed=3))
    whole = NoiseSuppressor().process(noisy).samples
    suppressor = NoiseSuppressor()
    pieces = b"".join(suppressor.process(AudioChunk(noisy.samples[i:i + 2 * size], 16_000, 2, 1))
                      .samples for i in range(0, len(noisy.samples), 2 * size))
    n = min(len(whole), len(pieces))
    assert pieces[:n] == whole[:n]


def test_the_clean_track_lines_up_with_the_raw_stream():
    speech = read_speech_wav(recordings()[0].path)
    track = CleanTrack()
    for i in range(0, len(speech.samples), 1600):
        track.push(AudioChunk(speech.samples[i:i + 1600], 16_000, 2, 1, i / 32_000))
    piece = pcm16(track.take(4000, 12_000))
    assert np.array_equal(piece, pcm16(speech)[4000:12_000])


def test_denoising_helps_recognition_in_pink_noise(pocketsphinx_restricted, matcher):
    noisy = [r for r in recordings() if r.condition == "pink-10dB"]
    right = {True: 0, False: 0}
    for denoise in (True, False):
        for recording in noisy:
            heard = transcribe_recording(pocketsphinx_restricted, read_speech_wav(recording.path),
                                         denoise=denoise).text
            right[denoise] += matcher.understand(heard).id in recording.expected
    assert right[True] > right[False]  # measured: 12 of 15 against 9 of 15
