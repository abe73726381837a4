"""Speech out with the real espeak-ng, into real WAV files."""

from __future__ import annotations

import pytest
from conftest import decode, run_cli

from common.errors import UsageError
from voice.convert import convert_all
from voice.endpoint import EndpointSettings, SpeechStarted, UtteranceSegmenter
from voice.tts import EspeakSynthesizer, Speaker, WavFileSink
from voice.wav import read_speech_wav, read_wav_info


@pytest.fixture(scope="module")
def synthesizer():
    return EspeakSynthesizer(rate=160)


def test_speaks_a_sentence_into_audio(synthesizer):
    audio = synthesizer.synthesize("Let's take a slow breath together.")
    assert audio.channels == 1 and audio.width == 2
    assert 1.0 < audio.duration < 5.0


def test_long_multi_sentence_replies_come_out_whole(synthesizer, library, capfd):
    for entry in list(library.intents.values())[:12]:
        one = synthesizer.synthesize(entry.reply)
        words = len(entry.reply.split())
        assert one.duration > words * 0.2, entry.id
    assert capfd.readouterr().out == ""  # nothing of the synthesizer reaches our stdout


def test_speaking_rate_changes_the_length(synthesizer):
    text = "Breathe in slowly, and let it go."
    slow = synthesizer.with_rate(110).synthesize(text).duration
    fast = synthesizer.with_rate(220).synthesize(text).duration
    assert slow > fast * 1.5
    assert synthesizer.rate == 160  # a new rate is a new synthesizer; this one is unchanged


def test_synthesizers_share_nothing():
    """Two voices at once (a conversation's replies and a breathing cue, say): each keeps its
    own voice and rate, whatever the other does."""
    british = EspeakSynthesizer(rate=120, voice="en-gb")
    american = EspeakSynthesizer(rate=220, voice="en-us")
    text = "Let's take one slow breath together."
    first = british.synthesize(text)
    american.synthesize(text)
    again = british.synthesize(text)
    assert first.samples == again.samples
    assert british.voice.language == "en-gb" and american.voice.language == "en-us"


def test_voice_can_be_chosen_and_an_unknown_one_is_refused():
    assert EspeakSynthesizer(voice="English (America)").voice.language == "en-us"
    with pytest.raises(UsageError, match="voice 'klingon-x' not found"):
        EspeakSynthesizer(voice="klingon-x")
    result = run_cli("say", "hello", "--voice", "klingon-x")
    assert result.returncode == 2 and "voice 'klingon-x' not found" in result.stderr


def test_an_output_file_that_cannot_be_written_is_bad_input(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    result = run_cli("say", "hello", "--output", str(blocked / "x.wav"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"trust-coach: {blocked / 'x.wav'}: cannot write")


def test_replies_go_into_one_wav_file_in_order(tmp_path, synthesizer):
    sink = WavFileSink(tmp_path / "replies.wav")
    speaker = Speaker(synthesizer, sink)
    durations = [speaker.say(t) for t in ("First reply.", "Second reply, a little longer.",
                                          "Third.")]
    speaker.sink.close()
    info = read_wav_info(tmp_path / "replies.wav")
    assert len(sink.onsets) == 3
    assert sink.onsets == sorted(sink.onsets)
    assert info.duration == pytest.approx(sum(durations) + 2 * 1.0, abs=0.05)
    # Three separate stretches of speech, found by the same endpointer the loop uses.
    segmenter = UtteranceSegmenter(EndpointSettings(trailing_silence=0.7, max_utterance=60))
    audio = read_speech_wav(tmp_path / "replies.wav")
    starts = [e for e in segmenter.feed(audio) if isinstance(e, SpeechStarted)]
    assert len(starts) == 3


def test_round_trip_spoken_reply_is_understood(synthesizer, pocketsphinx_restricted, matcher):
    # Speak with espeak-ng, transcribe with the default engine, understand: the whole chain.
    for text, intent in (("Tell me about couples therapy.", "therapy"),
                         ("Can we do some box breathing?", "calm_down"),
                         ("Why do people cheat?", "cause.infidelity")):
        audio = convert_all([synthesizer.synthesize(text)])
        heard = decode(pocketsphinx_restricted, [audio]).text
        assert matcher.understand(heard).id == intent, heard


def test_say_command_writes_a_wav(tmp_path):
    out = tmp_path / "said.wav"
    result = run_cli("say", "Hello, I am here to help.", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert read_wav_info(out).duration > 1.0


def test_say_lists_voices():
    result = run_cli("say", "--list-voices")
    assert result.returncode == 0 and "en-us" in result.stdout
