"""Endpointing on real recordings: where utterances start and end."""

from __future__ import annotations

import numpy as np
from conftest import recording

from voice.audio import AudioChunk
from voice.endpoint import EndpointSettings, SpeechEnded, SpeechStarted, UtteranceSegmenter
from voice.wav import iter_wav_chunks, read_speech_wav


def segment(path, settings=None, chunk_seconds=0.05):
    segmenter = UtteranceSegmenter(settings)
    events = []
    for chunk in iter_wav_chunks(path, chunk_seconds):
        events += list(segmenter.feed(chunk))
    events += list(segmenter.end_of_stream())
    return events


def utterances(events):
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    return starts, ends


def test_a_conversation_splits_into_its_six_turns():
    starts, ends = utterances(segment(recording("conversation.wav")))
    assert len(starts) == len(ends) == 6
    assert all(e.reason == "silence" for e in ends)


def test_chunk_size_does_not_change_where_speech_is_found():
    a = segment(recording("conversation.wav"), chunk_seconds=0.013)
    b = segment(recording("conversation.wav"), chunk_seconds=0.25)
    ends_a = [round(e.end, 2) for e in a if isinstance(e, SpeechEnded)]
    ends_b = [round(e.end, 2) for e in b if isinstance(e, SpeechEnded)]
    assert ends_a == ends_b


def test_silence_room_tone_and_steady_noise_start_nothing():
    for name in ("silence.wav", "room-tone.wav", "noise-only.wav"):
        starts, _ = utterances(segment(recording(name)))
        assert starts == [], name


def test_the_pre_roll_keeps_the_first_sound():
    events = segment(recording("piper-joe--causes.wav"))
    start = next(e for e in events if isinstance(e, SpeechStarted))
    assert start.audio.duration >= 0.25  # the pre-roll before the trigger


def test_trailing_silence_setting_is_honoured():
    # Two requests about 0.45 s apart (0.25 s gap plus their own edges): one utterance with
    # 0.6 s of trailing silence, two with 0.3 s.
    a = read_speech_wav(recording("piper-joe--help.wav"))
    b = read_speech_wav(recording("piper-joe--tips.wav"))
    trimmed = [AudioChunk(c.samples[6400:-12800], 16_000, 2, 1) for c in (a, b)]
    gap = bytes(8_000)  # 0.25 s
    joined = AudioChunk(trimmed[0].samples + gap + trimmed[1].samples + bytes(32_000),
                        16_000, 2, 1)
    for silence_s, expected in ((0.6, 1), (0.3, 2)):
        segmenter = UtteranceSegmenter(EndpointSettings(trailing_silence=silence_s))
        events = list(segmenter.feed(joined)) + list(segmenter.end_of_stream())
        assert len(utterances(events)[0]) == expected, silence_s


def test_endless_speech_is_cut_at_the_maximum_length():
    # Babble that never pauses: ten requests laid over each other.
    clips = [read_speech_wav(recording(f"piper-joe--{n}.wav")) for n in
             ("causes", "tips", "help", "impacts", "therapy", "calm-help", "timeout-break",
              "cause-lies", "tip-empathy", "impact-anxiety")]
    length = 16_000 * 20
    mix = np.zeros(length)
    rng = np.random.default_rng(3)
    for clip in clips * 4:
        samples = np.frombuffer(clip.samples, dtype="<i2").astype(np.float64)
        at = int(rng.integers(0, length - len(samples)))
        mix[at:at + len(samples)] += samples / 3
    chunk = AudioChunk(np.clip(mix, -32768, 32767).astype("<i2").tobytes(), 16_000, 2, 1)
    segmenter = UtteranceSegmenter(EndpointSettings(max_utterance=5.0))
    events = list(segmenter.feed(chunk)) + list(segmenter.end_of_stream())
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert ends and ends[0].reason == "max_length"
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    assert ends[0].end - starts[0].audio.timestamp <= 5.05
