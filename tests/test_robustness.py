"""It keeps working (issue 13): every way a person can get it wrong is one line naming the thing
and the fix, exit code 2, and no file left behind; the real program, run as a person runs it."""

from __future__ import annotations

import struct

import pytest
from conftest import recording, run_cli


def _one_line(result, code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines()
             if not line.startswith(("preparing:", "engine:"))]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _no_sound_card(tmp_path) -> dict[str, str]:
    return {"HOME": str(tmp_path)}  # PortAudio sees no ALSA device at all


# --- no speaker, a speaker that does not exist ---------------------------------------------


def test_say_without_a_speaker_is_one_line_and_exit_2(tmp_path):
    line = _one_line(run_cli("say", "hello", env=_no_sound_card(tmp_path)))
    assert line == ("trust-coach: no speaker found; plug one in, pick one with --output-device "
                    "N, use --output FILE.wav, or --text-only")


def test_breathe_without_microphone_or_speaker_says_so(tmp_path):
    result = run_cli("breathe", "--rounds", "1", env=_no_sound_card(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("trust-coach: no speaker found")


def test_an_output_device_that_does_not_exist_is_refused_up_front(tmp_path):
    line = _one_line(run_cli("listen", "--input", str(recording("piper-joe--yes.wav")),
                             "--output-device", "99", env=_no_sound_card(tmp_path)))
    assert line == "trust-coach: output device 99 not found; see 'trust-coach devices'"


# --- limits that protect the disk and memory -----------------------------------------------


def test_a_huge_number_of_rounds_is_refused_and_writes_nothing(tmp_path):
    out = tmp_path / "f.wav"
    line = _one_line(run_cli("breathe", "--rounds", "100000", "--output", str(out)))
    assert line == "trust-coach: --rounds must be between 1 and 100"
    assert list(tmp_path.iterdir()) == []


def test_the_limits_are_stated_in_help():
    assert "1 to 100" in run_cli("breathe", "--help").stdout
    assert "2,000 characters" in run_cli("say", "--help").stdout
    assert "10 minutes" in run_cli("understand", "--help").stdout


def test_say_refuses_a_very_long_text_and_leaves_no_file(tmp_path):
    out = tmp_path / "said.wav"
    line = _one_line(run_cli("say", "word " * 10_000, "--output", str(out)))
    assert line == ("trust-coach: say: the text is 50,000 characters; at most 2,000 "
                    "(say it in parts)")
    assert list(tmp_path.iterdir()) == []


def test_say_speaks_a_long_text_without_punctuation(tmp_path):
    from voice.wav import read_wav_info

    out = tmp_path / "said.wav"
    text = " ".join(["take a slow breath and let it out"] * 50)  # 400 words, no full stop
    result = run_cli("say", text, "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert read_wav_info(out).duration > 60  # all of it, not a fragment
    assert [p.name for p in tmp_path.iterdir()] == ["said.wav"]  # no temporary left


def test_an_unknown_voice_with_an_output_file_leaves_no_file(tmp_path):
    out = tmp_path / "said.wav"
    line = _one_line(run_cli("say", "hello", "--voice", "klingon-x", "--output", str(out)))
    assert "voice 'klingon-x' not found" in line
    assert list(tmp_path.iterdir()) == []


# --- WAV files a recorder wrote to a pipe --------------------------------------------------


@pytest.mark.parametrize("size", [0, 0x7FFFFFFE, 0x7FFFF000, 0xFFFFFFFF])
def test_a_streaming_recorders_placeholder_size_is_read_to_the_end(tmp_path, size):
    from voice.wav import read_wav_info

    speech = recording("piper-joe--yes.wav")
    info = read_wav_info(speech)
    with speech.open("rb") as f:
        f.seek(info.data_offset)
        data = f.read(info.data_bytes)
    header = (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, info.rate, info.rate * 2, 2, 16)
              + b"data" + struct.pack("<I", size))
    piped = tmp_path / "piped.wav"
    piped.write_bytes(header + data)
    assert read_wav_info(piped).duration == pytest.approx(info.duration)


# --- settings -------------------------------------------------------------------------------


def _settings(tmp_path, text: str) -> dict[str, str]:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return {"TRUST_COACH_SETTINGS": str(path)}


def test_a_rate_out_of_range_in_the_settings_file_is_named(tmp_path):
    line = _one_line(run_cli("understand", "--text", "hi", env=_settings(tmp_path, "rate = -50\n")))
    assert line == (f"trust-coach: {tmp_path / 'settings.toml'}: setting 'rate' must be between "
                    "90 and 260 words per minute, not -50")


def test_a_rate_out_of_range_on_the_command_line_is_refused(tmp_path):
    line = _one_line(run_cli("say", "hello", "--rate", "5000", "--output",
                             str(tmp_path / "x.wav")))
    assert line == "trust-coach: --rate must be between 90 and 260 words per minute, not 5000"
    assert list(tmp_path.iterdir()) == []


def test_a_settings_file_named_by_the_environment_must_exist(tmp_path):
    missing = tmp_path / "nowhere.toml"
    line = _one_line(run_cli("understand", "--text", "hi",
                             env={"TRUST_COACH_SETTINGS": str(missing)}))
    assert line == (f"trust-coach: {missing}: not found (named by $TRUST_COACH_SETTINGS); "
                    "create it, or unset the variable")


def test_an_unknown_region_in_the_settings_file_names_the_file(tmp_path):
    line = _one_line(run_cli("understand", "--text", "hi",
                             env=_settings(tmp_path, 'region = "XX"\n')))
    assert line.startswith(f"trust-coach: {tmp_path / 'settings.toml'}: setting 'region': "
                           "unknown region 'XX'; choose one of")
    # Given on the command line instead, it is the command line that is wrong.
    line = _one_line(run_cli("understand", "--text", "hi", "--region", "XX"))
    assert line.startswith("trust-coach: unknown region 'XX'; choose one of")


# --- one voice for every message -----------------------------------------------------------


def test_argument_errors_carry_one_prefix():
    line = _one_line(run_cli("listen", "--trailing-silence", "banana"))
    assert line.startswith("trust-coach: listen: argument --trailing-silence: invalid float")
    assert "trust-coach: trust-coach" not in line


def test_understand_reports_a_bad_file_like_every_other_command(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    result = run_cli("understand", str(bad))
    assert result.returncode == 2
    assert f"trust-coach: {bad}: not a WAV file (no RIFF/WAVE header)" in result.stderr
    assert "error:" not in result.stderr


def test_a_finished_timer_says_time_is_up(tmp_path):
    import json
    import time

    state = tmp_path / "timers.json"
    state.write_text(json.dumps({"timer": {"minutes": 20, "due": time.time() - 5,
                                           "created": time.time() - 1205}}))
    result = run_cli("timers", env={"TRUST_COACH_STATE": str(tmp_path)})
    assert result.stdout.strip() == ("20 minute break: time is up (the coach says so when it "
                                     "next runs)")


def test_the_first_run_says_what_it_is_preparing(tmp_path):
    result = run_cli("understand", "--text", "hello", "--engine", "pocketsphinx",
                     env={"XDG_CACHE_HOME": str(tmp_path)}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "preparing: learning the meaning of" in result.stderr
    again = run_cli("understand", "--text", "hello", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert "preparing:" not in again.stderr  # once only


def test_the_benchmark_report_names_the_models_folder_inside_the_checkout():
    from conftest import ROOT

    from bench import speech

    _, notes = speech.configs(ROOT / "models")
    assert all(str(ROOT) not in note for note in notes), notes
