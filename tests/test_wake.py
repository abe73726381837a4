"""Hands-free listening: the wake phrase spotted by PocketSphinx's keyword search, the
follow-up window, and disclosures answered without the phrase. Real recordings (the committed
fixtures, Piper, espeak-ng and festival voices), the real recognisers and the real program."""

from __future__ import annotations

import pytest
from conftest import joined_recording, recording, run_cli

from voice.wake import Attention, WakeSettings, WakeSpotter
from voice.wav import iter_wav_chunks, read_speech_wav


def _spots(name: str) -> list[float]:
    spotter = WakeSpotter(WakeSettings())
    return [at for chunk in iter_wav_chunks(recording(name), 0.05)
            if (at := spotter.accept(chunk)) is not None]


@pytest.mark.parametrize("name", ["piper-joe--wake-only.wav", "piper-joe--wake-tip.wav",
                                  "festival-kal--wake-only.wav", "festival-kal--wake-tip.wav"])
def test_the_wake_phrase_is_spotted_once(name):
    spots = _spots(name)
    assert len(spots) == 1
    speech = read_speech_wav(recording(name))
    assert 0.3 < spots[0] < speech.duration  # after the padding, within the recording


@pytest.mark.parametrize("name", ["piper-joe--tips.wav", "piper-joe--causes.wav",
                                  "piper-joe--crisis-hit.wav", "festival-kal--help.wav",
                                  "espeak-us--tips.wav", "noise-only.wav", "room-tone.wav"])
def test_other_speech_and_noise_do_not_wake_it(name):
    assert _spots(name) == []


def test_a_phrase_with_a_word_the_recogniser_does_not_know_is_refused():
    from common.errors import UsageError

    with pytest.raises(UsageError, match="does not know the word 'xyzzyq'"):
        WakeSpotter(WakeSettings("hey xyzzyq"))


def test_attention_follows_the_phrase_and_the_follow_up_window():
    attention = Attention(WakeSettings("hey coach", follow_up=8.0))
    assert not attention.addressed("give me a tip", 1.0, 2.5)
    assert attention.addressed("Hey, coach. Give me a tip.", 1.0, 3.0)  # heard in the words
    assert attention.request("Hey, coach. Give me a tip.") == "Give me a tip."
    assert attention.request("hey coach") == ""
    assert attention.addressed("Okay, hey coach, help me calm down", 1.0, 3.0)
    assert not attention.addressed("The coach said hey to everyone", 1.0, 3.0)
    assert not attention.addressed("Hey couch, give me a tip", 10.5, 12.0)
    attention.spotted(10.2)  # the keyword search heard it: words that begin like it will do
    assert attention.addressed("Hey couch, give me a tip", 10.5, 12.0)
    assert attention.request("Hey couch, give me a tip") == "give me a tip"
    assert not attention.addressed("give me a tip", 10.5, 12.0)  # the words must say it too
    attention.answered(20.0)
    assert attention.addressed("tell me more", 27.9, 29.0)  # a follow-up, no phrase needed
    assert not attention.addressed("tell me more", 28.1, 29.0)
    assert attention.request("Goodbye.") == "Goodbye."  # a follow-up is taken whole


def _said(stdout: str) -> list[str]:
    """The intents answered, in order, and the chimes."""
    said = []
    for line in stdout.splitlines():
        if line.startswith("wake phrase heard"):
            said.append("(chime)")
        elif line.startswith("heard speech without the wake phrase"):
            said.append("(not answered)")
        elif "| intent: " in line:
            said.append(line.split("| intent: ")[1].split(" ")[0])
    return said


def test_a_session_with_the_wake_phrase(tmp_path):
    """The phrase alone, then a request within the follow-up window; a request long after
    without the phrase is not answered; a disclosure without it is; the phrase said by
    another voice in front of a request (espeak-ng, which the keyword search does not hear:
    the accurate recogniser's words carry it)."""
    session = joined_recording(tmp_path / "session.wav", 0.5, "piper-joe--wake-only.wav", 1.0,
                    "piper-joe--causes.wav", 12.0, "piper-joe--tips.wav", 2.0,
                    "piper-joe--crisis-hit.wav", 12.0, "espeak-us--wake-tip.wav", 1.0)
    out = tmp_path / "replies.wav"
    result = run_cli("listen", "--wake", "on", "--input", session, "--output", str(out),
                     "--engine", "whisper")
    assert result.returncode == 0, result.stderr
    assert 'say "hey coach" first' in result.stderr
    assert _said(result.stdout) == ["(chime)", "causes", "(not answered)", "crisis", "tips"]
    # What was not meant for the coach is not printed (nor kept anywhere).
    assert sum('heard: "' in line for line in result.stdout.splitlines()) == 3
    assert out.stat().st_size > 0


def test_live_a_follow_up_within_the_window_needs_no_phrase(tmp_path):
    """In real time, as from a microphone (the window is kept in stream time, from where
    the microphone is when the answer has been given): the chime, a request, a follow-up."""
    session = joined_recording(tmp_path / "session.wav", 0.3, "piper-joe--wake-only.wav", 0.7,
                    "piper-joe--causes.wav", 1.0, "piper-joe--next.wav", 1.5)
    out = tmp_path / "replies.wav"
    result = run_cli("listen", "--wake", "on", "--input", session, "--realtime",
                     "--output", str(out), "--engine", "whisper")
    assert result.returncode == 0, result.stderr
    assert _said(result.stdout) == ["(chime)", "causes", "next"]


def test_without_the_wake_phrase_everything_is_answered(tmp_path):
    session = joined_recording(tmp_path / "session.wav", 0.5, "piper-joe--causes.wav", 12.0,
                    "piper-joe--tips.wav", 1.0)
    result = run_cli("listen", "--wake", "off", "--input", session, "--text-only",
                     "--engine", "whisper")
    assert result.returncode == 0, result.stderr
    assert _said(result.stdout) == ["causes", "tips"]
    # A recording is answered whole by default (it was made to be answered).
    result = run_cli("listen", "--input", session, "--text-only", "--engine", "whisper")
    assert _said(result.stdout) == ["causes", "tips"]


def test_during_breathing_no_wake_phrase_is_needed(tmp_path):
    session = joined_recording(tmp_path / "session.wav", 0.5, "piper-joe--wake-only.wav", 0.8,
                    "piper-joe--calm-help.wav", 9.0, "espeak-us--cmd-stop.wav", 3.0)
    result = run_cli("listen", "--wake", "on", "--input", session, "--text-only",
                     "--engine", "whisper")
    assert result.returncode == 0, result.stderr
    assert _said(result.stdout) == ["(chime)", "calm_down"]
    assert 'heard during breathing: "stop"' in result.stdout.lower()
    cues = [line for line in result.stdout.splitlines() if line.startswith("cue ")]
    assert 2 <= len(cues) <= 6  # stopped in the third round or so, not after twelve


def test_a_wake_phrase_setting_that_cannot_be_used_is_one_clear_line(tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text('wake_phrase = "coach"\n', encoding="utf-8")
    result = run_cli("listen", "--text-only", env={"TRUST_COACH_SETTINGS": str(settings)})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"trust-coach: {settings}: setting 'wake_phrase' must be two to four plain words, "
        "like \"hey coach\", not 'coach'")
