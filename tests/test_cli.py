"""The real program end to end: `understand` on the recorded fixtures, `listen` on a recorded
conversation, `chat`, and how it fails."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from conftest import AUDIO, recording, recordings, run_cli

from intents.normalize import normalize
from voice.endpoint import EndpointSettings, SpeechStarted, UtteranceSegmenter
from voice.wav import read_speech_wav, read_wav_info

# Floors a little under what was measured (issue notes), per voice and condition.
FLOORS = {("piper-joe", "clean"): 0.95, ("festival-kal", "clean"): 0.95,
          ("espeak-us", "clean"): 0.5, ("piper-joe", "pink-10dB"): 0.7}


@pytest.fixture(scope="module")
def understood():
    """All English fixtures through `trust-coach understand --json`, in one process."""
    files = [r for r in recordings() if r.condition != "conversation" and r.voice != "espeak-ko"]
    result = run_cli("understand", "--json", *[str(r.path) for r in files])
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["input"] for r in records] == [str(f.path) for f in files]
    return list(zip(files, records, strict=True))


def test_every_record_has_the_public_fields(understood):
    for _, record in understood:
        assert {"input", "transcript", "intent", "confidence", "crisis", "reply"} <= set(record)
        assert isinstance(record["crisis"], bool)
        assert 0.0 <= record["confidence"] <= 1.0
        assert record["crisis"] == (record["intent"] == "crisis")


def test_intent_accuracy_per_voice_and_condition(understood):
    tally = defaultdict(lambda: [0, 0])
    for recording_, record in understood:
        key = (recording_.voice, recording_.condition)
        tally[key][0] += record["intent"] in recording_.expected
        tally[key][1] += 1
    for key, floor in FLOORS.items():
        right, total = tally[key]
        assert right / total >= floor, (key, right, total)


def test_crisis_recordings_in_natural_voices_are_always_caught(understood):
    for recording_, record in understood:
        if recording_.expected == ("crisis",) and recording_.condition == "clean" \
                and recording_.voice in ("piper-joe", "festival-kal"):
            assert record["crisis"], (recording_.path.name, record["transcript"])


def test_a_reading_that_may_be_a_disclosure_is_asked_about(understood, library):
    # Whatever the best reading was, a reading that may disclose danger (the recogniser's
    # runner-up, or what was heard when the safety check is in doubt) gets the safety
    # question, not silence and not the crisis answer outright.
    flagged = [(r, rec) for r, rec in understood if rec["possible_crisis"]]
    for _, record in flagged:
        misheard = record["possible_crisis"] in record["heard_otherwise"]
        assert misheard or record["possible_crisis"] == normalize(record["transcript"])
        assert not record["crisis"]
        assert record["reply"] == (library.lines.safety_check if misheard
                                   else library.lines.safety_check_unsure)
    # With Whisper hearing them, no fixture needs the question any more: PocketSphinx alone
    # heard espeak-ng's "what's the weather going to be" as "what whether go to be", which
    # read a little like a disclosure and was asked about; Whisper hears the words.
    assert [r.path.name for r, _ in flagged] == []


def test_silence_and_noise_are_not_answered_as_requests(understood):
    for recording_, record in understood:
        if recording_.voice == "-":
            assert record["transcript"] == "" and record["intent"] == "none", recording_.path


def test_understand_text_input():
    result = run_cli("understand", "--text", "help me calm down", "--text", "he hit me",
                     "--json")
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["intent"] == "calm_down" and first["crisis"] is False
    assert second["intent"] == "crisis" and second["crisis"] is True
    assert "911" in second["reply"] and "988" in second["reply"]


def test_region_changes_the_hotlines():
    result = run_cli("understand", "--text", "i want to end my life", "--region", "uk",
                     "--json")
    reply = json.loads(result.stdout)["reply"]
    assert "999" in reply and "116 123" in reply and "911" not in reply


def _with_settings(tmp_path, text: str) -> dict[str, str]:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return {"TRUST_COACH_SETTINGS": str(path)}


def test_the_region_can_be_chosen_once_in_the_settings_file(tmp_path):
    env = _with_settings(tmp_path, 'region = "au"\n')
    result = run_cli("understand", "--text", "he hit me", "--json", env=env)
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)["reply"]
    assert "call 000" in reply and "1800 737 732" in reply and "911" not in reply
    # The command line wins over the file.
    result = run_cli("understand", "--text", "he hit me", "--json", "--region", "US", env=env)
    assert "911" in json.loads(result.stdout)["reply"]


@pytest.mark.parametrize(("text", "problem"), [
    ('regoin = "UK"\n', "unknown setting 'regoin'"),
    ("rate = \"fast\"\n", "setting 'rate' must be a whole number, not 'fast'"),
    ("tone = 1\n", "setting 'tone' must be true or false, not 1"),
    ('engine = "kaldi"\n', "setting 'engine' must be one of auto, whisper, vosk, pocketsphinx"),
    ("region = \n", "is not valid TOML"),
    ('region = "XX"\n', "unknown region 'XX'"),
])
def test_a_broken_settings_file_is_one_line_naming_it_and_exit_2(tmp_path, text, problem):
    env = _with_settings(tmp_path, text)
    result = run_cli("understand", "--text", "hello", "--json", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0], result.stderr
    if "region 'XX'" not in problem:
        assert str(tmp_path / "settings.toml") in lines[0]


def test_listen_answers_each_request_in_a_recorded_conversation(tmp_path):
    out = tmp_path / "replies.wav"
    result = run_cli("listen", "--input", str(recording("conversation.wav")), "--output",
                     str(out))
    assert result.returncode == 0, result.stderr
    turns = [line for line in result.stdout.splitlines() if line.startswith("heard:")]
    intents = [line.split("| intent: ")[1].split(" ")[0] for line in turns]
    assert intents == ["causes", "next", "none", "i_statements", "goodbye"]
    assert result.stdout.startswith('coach: "')  # the greeting, with the disclaimer
    assert "not a therapist" in result.stdout.splitlines()[0]
    # The loop ended at goodbye: the sixth utterance was not answered.
    assert "are you still there" not in result.stdout
    # Six replies (greeting + five turns) in the output file, one after another.
    segmenter = UtteranceSegmenter(EndpointSettings(trailing_silence=0.8, max_utterance=60))
    audio = read_speech_wav(out)
    starts = [e for e in segmenter.feed(audio) if isinstance(e, SpeechStarted)]
    assert len(starts) == 6
    assert read_wav_info(out).duration > 30


def test_listen_text_only_prints_and_stays_silent(tmp_path):
    result = run_cli("listen", "--input", str(recording("piper-joe--causes.wav")),
                     "--text-only")
    assert result.returncode == 0, result.stderr
    assert '| intent: causes (' in result.stdout


def test_listen_realtime_takes_as_long_as_the_recording():
    import time

    path = recording("piper-joe--yes.wav")
    started = time.monotonic()
    result = run_cli("listen", "--input", str(path), "--realtime", "--text-only")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed >= read_wav_info(path).duration


def test_listen_on_a_bad_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    result = run_cli("listen", "--input", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip() == f"trust-coach: {bad}: not a WAV file (no RIFF/WAVE header)"


def test_chat_keeps_a_conversation_going():
    result = run_cli("chat", stdin="what causes trust issues\ntell me more\nsay that again\n"
                     "goodbye for tonight\nthis is never read\n")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("heard:")]
    assert len(lines) == 4
    more = lines[1].split('reply: "')[1]
    again = lines[2].split('reply: "')[1]
    assert more == again


@pytest.mark.parametrize(("args", "message"), [
    (["listen", "--engine", "kaldi"], "argument --engine: invalid choice"),
    (["listen", "--trailing-silence", "9"], "--trailing-silence must be between"),
    (["understand"], "understand: give WAV files or --text"),
    (["frobnicate"], "invalid choice"),
    (["breathe", "--input", "tests/fixtures/audio/piper-joe--cmd-stop.wav", "--output",
      "tests/fixtures/../fixtures/audio/piper-joe--cmd-stop.wav"],
     "--input and --output are the same file"),
])
def test_bad_usage_is_one_line_and_exit_2(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_help_exits_cleanly():
    result = run_cli("--help")
    assert result.returncode == 0 and "listen" in result.stdout


def test_fixture_manifest_lists_every_wav():
    listed = {r.path.name for r in recordings()}
    on_disk = {p.name for p in AUDIO.glob("*.wav")}
    assert listed == on_disk


def test_an_internal_failure_is_one_line_and_exit_1(monkeypatch, capsys):
    """A bug (here, the library check raising something unexpected) is reported in one line,
    with exit code 1, never a traceback."""
    import voice.__main__ as cli
    from voice.commands import library_check

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr(library_check, "run", broken)
    assert cli.main(["library", "check"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["trust-coach: internal error: RuntimeError: something nobody planned for "
                   "(run with -v for details)"]
