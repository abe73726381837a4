"""The default engine's two passes together, on real audio: Whisper's reading, PocketSphinx's
beside it, and when the streaming reading stands in for Whisper's."""

from __future__ import annotations

import pytest
from conftest import DATA, recording

from common.transcript import Transcript, Word
from voice.twopass import clearly_heard
from voice.wav import read_speech_wav

# Cut by the listener (--keep-audio: noise-suppressed, as the engine hears it) from the soak's
# stream (bench.soak, seed 7) at 2346.1-2347.7 s: espeak-ng saying "could you say that again"
# over a fan. Whisper took it for "Thank you for watching." and its guard dropped that, so the
# hour's soak left this one utterance unanswered until the streaming reading stood in.
SOAK_REPEAT = DATA / "soak-espeak-repeat-cleaned.wav"


def _heard(engine, path):
    session = engine.start()
    session.accept(read_speech_wav(path))
    return session, session.finish()


def test_a_whisper_invention_gives_way_to_words_the_streaming_pass_heard_clearly(two_pass,
                                                                                 matcher):
    session, transcript = _heard(two_pass, SOAK_REPEAT)
    assert session._accurate.dropped() == "invented"  # what Whisper made of it: nothing
    assert transcript.text == "could you say that again"
    assert matcher.understand(transcript.text, transcript.alternatives).id == "repeat"


@pytest.mark.parametrize("name", ["silence.wav", "room-tone.wav", "noise-only.wav"])
def test_silence_and_noise_still_give_nothing(two_pass, name):
    _, transcript = _heard(two_pass, recording(name))
    assert transcript.is_empty, transcript


def test_whisper_reading_wins_when_it_has_one(two_pass):
    _, transcript = _heard(two_pass, recording("piper-joe--repeat.wav"))
    assert transcript.text.lower().strip(".?!") == "could you say that again"
    assert transcript.engine == "whisper+pocketsphinx"


def _reading(*confidences: float) -> Transcript:
    words = tuple(Word(f"w{i}", i, i + 0.3, c) for i, c in enumerate(confidences))
    return Transcript(" ".join(w.text for w in words), 0.1, words, "pocketsphinx")


def test_clearly_heard_means_several_words_heard_with_fair_confidence():
    assert clearly_heard(_reading(0.21, 0.89, 0.43, 0.97, 1.0))  # the soak's, mean 0.70
    assert not clearly_heard(_reading(1.0))  # one word: what noise turns into
    assert not clearly_heard(_reading(0.9, 0.9))
    assert not clearly_heard(_reading(0.3, 0.5, 0.6, 0.4))
    assert not clearly_heard(Transcript(""))
