"""`trust-coach doctor`: the device checks through the real sounddevice/PortAudio path, with
ALSA "file" devices in a HOME of their own (as tests/test_devices.py does), in a subprocess;
the other checks on the real installation; PortAudio's error texts turned into advice."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

import numpy as np
import pytest
from conftest import recording, run_cli

from common.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK
from voice.convert import Resampler, pcm16
from voice.devices import NO_MIC_HINT, NO_SPEAKER_HINT, DeviceInfo
from voice.doctor import (
    BUSY,
    INVALID_RATE,
    NO_DEVICE,
    NOT_FOUND,
    OTHER,
    Check,
    audio_problem,
    check_settings_file,
    classify_audio_error,
    cpu_check,
    memory_check,
    pocketsphinx_check,
    usb_microphone_check,
    whisper_check,
)
from voice.settings import Settings

DEVICE_RATE = 44_100  # the default rate PortAudio reports for an ALSA file device


# --- the real PortAudio path ------------------------------------------------------------------


def _file_mic(name: str, raw) -> str:
    hint = f'hint {{ show on description "{name}" }}' if not name.startswith("!") else ""
    return f"""
pcm.{name} {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{raw}"
    format "raw"
    {hint}
}}"""


def _home(tmp_path, mics: dict[str, bytes]):
    """A HOME whose .asoundrc has a microphone for each name (reading the given raw 44.1 kHz
    16-bit audio) and a playback-only speaker writing into speaker.raw."""
    parts = []
    for name, audio in mics.items():
        raw = tmp_path / f"{name.strip('!')}.raw"
        raw.write_bytes(audio)
        parts.append(_file_mic(name, raw))
    parts.append(f"""
pcm.testspeaker {{
    type asym
    playback.pcm {{
        type file
        slave.pcm "null"
        file "|cat >> {tmp_path / 'speaker.raw'}"
        format "raw"
    }}
    hint {{ show on description "trust-coach test speaker" }}
}}""")
    (tmp_path / ".asoundrc").write_text("\n".join(parts))
    return tmp_path


def _speech() -> bytes:
    """A request as the microphone delivers it: 44.1 kHz mono 16-bit, then some quiet."""
    speech = pcm16_of("piper-joe--help.wav")
    values = np.concatenate([speech, np.zeros(16_000 * 2, dtype=np.float32)])
    resampler = Resampler(16_000, DEVICE_RATE)
    out = np.concatenate([resampler.process(values), resampler.flush()])
    return np.clip(out * 32768, -32768, 32767).astype("<i2").tobytes()


def pcm16_of(name: str) -> np.ndarray:
    from voice.wav import read_speech_wav

    return pcm16(read_speech_wav(recording(name))).astype(np.float32) / 32768


SILENCE = bytes(DEVICE_RATE * 2 * 4)  # four seconds of digital silence


def _doctor(home, *arguments: str, env: dict[str, str] | None = None):
    return run_cli("doctor", *arguments, env={"HOME": str(home), **(env or {})}, timeout=120)


def _line(output: str, name: str) -> str:
    found = [line for line in output.splitlines() if re.match(rf"(ok|PROBLEM) +{name}: ", line)]
    assert len(found) == 1, output
    return found[0]


@pytest.mark.hardware
def test_a_microphone_hearing_speech_passes_and_everything_else_too(tmp_path):
    home = _home(tmp_path, {"testmic": _speech()})
    result = _doctor(home, "--device", "testmic", "--output-device", "testspeaker")
    mic = _line(result.stdout, "microphone")
    assert mic.startswith("ok      microphone: 'testmic' at 44100 Hz hears sound "), mic
    assert _line(result.stdout, "speaker").startswith("ok      speaker: 'testspeaker' plays")
    assert "say something" in result.stderr
    # Every line is a check; the exit code says whether all passed.
    assert all(line.startswith(("ok ", "PROBLEM ")) for line in result.stdout.splitlines())
    assert "PROBLEM" not in result.stdout, result.stdout
    assert result.returncode == EXIT_OK
    assert (tmp_path / "speaker.raw").stat().st_size > 0  # it really played on the speaker


@pytest.mark.hardware
def test_a_silent_microphone_hears_nothing_above_its_noise_floor(tmp_path):
    home = _home(tmp_path, {"testmic": SILENCE})
    result = _doctor(home, "--device", "testmic", "--output-device", "testspeaker")
    mic = _line(result.stdout, "microphone")
    assert mic.startswith("PROBLEM microphone: 'testmic' at 44100 Hz hears nothing above its "
                          "noise floor in 2 s: only digital silence (muted?) -- fix: unmute it "
                          "and raise its capture level: alsamixer"), mic
    assert result.returncode == EXIT_INTERNAL


@pytest.mark.hardware
def test_no_input_device_is_a_problem_with_its_fix(tmp_path):
    result = _doctor(tmp_path)  # no .asoundrc: no sound card, no ALSA devices
    assert _line(result.stdout, "microphone") == (
        "PROBLEM microphone: no microphone found -- fix: plug one in (a USB microphone "
        "works), check that arecord -l lists it, then: trust-coach devices")
    assert _line(result.stdout, "speaker").startswith("PROBLEM speaker: no speaker found")
    assert result.returncode == EXIT_INTERNAL


@pytest.mark.hardware
def test_a_rate_the_microphone_refuses_is_named_and_its_own_rate_is_used(tmp_path):
    """A real "Invalid sample rate" from PortAudio (ALSA's file device takes 1 kHz to
    384 kHz): the check says so, then opens the device at its own rate, as listen does
    without --mic-rate, and hears the speech there."""
    home = _home(tmp_path, {"testmic": _speech()})
    result = _doctor(home, "--device", "testmic", "--output-device", "testspeaker",
                     "--mic-rate", "768000")
    assert _line(result.stdout, "microphone rate") == (
        "PROBLEM microphone rate: refuses 768000 Hz (PortAudio: Invalid sample rate) -- fix: "
        "leave out --mic-rate: trust-coach opens the microphone at its own 44100 Hz and "
        "resamples to 16 kHz itself")
    assert _line(result.stdout, "microphone").startswith("ok      microphone: 'testmic' at "
                                                         "44100 Hz hears sound")
    assert result.returncode == EXIT_INTERNAL


@pytest.mark.hardware
def test_a_usb_microphone_that_is_not_the_default_is_named_for_the_settings_file(tmp_path):
    home = _home(tmp_path, {"!default": _speech(), "usbmic": _speech()})
    result = _doctor(home, "--output-device", "testspeaker")
    assert _line(result.stdout, "microphone").startswith("ok      microphone: 'default'")
    usb = _line(result.stdout, "USB microphone")
    assert usb.startswith("PROBLEM USB microphone: 'usbmic' is plugged in but the default "
                          "input is 'default' -- fix: add device = \"usbmic\" to ")
    assert usb.endswith('settings.toml (or pass --device "usbmic")')
    assert result.returncode == EXIT_INTERNAL
    chosen = _doctor(home, "--device", "usbmic", "--output-device", "testspeaker")
    assert "USB microphone" not in chosen.stdout


@pytest.mark.hardware
def test_a_broken_settings_file_is_a_problem_naming_it_and_the_rest_still_runs(tmp_path):
    home = _home(tmp_path, {"testmic": _speech()})
    settings = tmp_path / "settings.toml"
    settings.write_text('rate = "fast"\n')
    result = _doctor(home, "--device", "testmic", "--output-device", "testspeaker",
                     env={"TRUST_COACH_SETTINGS": str(settings)})
    line = _line(result.stdout, "settings")
    assert line.startswith(f"PROBLEM settings: {settings}: setting 'rate' must be a whole "
                           f"number, not 'fast' -- fix: edit {settings}"), line
    assert _line(result.stdout, "microphone").startswith("ok ")
    assert result.returncode == EXIT_INTERNAL


@pytest.mark.parametrize("arguments", [("--bogus",), ("--mic-rate", "0"),
                                       ("--engine", "nope")])
def test_bad_usage_is_one_line_and_exit_2(tmp_path, arguments):
    result = _doctor(tmp_path, *arguments)
    assert result.returncode == EXIT_BAD_INPUT
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("trust-coach: ")
    assert result.stdout == ""


# --- PortAudio's error texts, as PortAudio and sounddevice write them -------------------------

# Pa_GetErrorText (pa_front.c, in libportaudio.so.2) with sounddevice's framing; the host error
# is what pa_linux_alsa.c reports for EBUSY when it is not turned into paDeviceUnavailable.
REAL_ERRORS = [
    ("Error opening RawInputStream: Invalid sample rate [PaErrorCode -9997]", INVALID_RATE),
    ("microphone 'USB Mic' refuses 16000 Hz mono 16-bit: Invalid sample rate "
     "[PaErrorCode -9997]", INVALID_RATE),
    ("Error opening RawInputStream: Device unavailable [PaErrorCode -9985]", BUSY),
    ("Error starting stream: Unanticipated host error [PaErrorCode -9999]: 'Device or "
     "resource busy' [ALSA error -16]", BUSY),
    (NO_MIC_HINT, NO_DEVICE),
    (NO_SPEAKER_HINT, NO_DEVICE),
    ("No input device matching 'usb'", NOT_FOUND),
    ("input device 'nosuchmic' not found; see 'trust-coach devices'", NOT_FOUND),
    ("Error opening RawInputStream: Illegal combination of I/O devices [PaErrorCode -9993]",
     OTHER),
]


@pytest.mark.parametrize(("message", "kind"), REAL_ERRORS)
def test_portaudio_errors_are_classified(message, kind):
    assert classify_audio_error(message) == kind


def test_each_kind_of_audio_failure_gets_its_own_fix():
    busy = audio_problem("microphone", REAL_ERRORS[2][0], microphone=True)
    assert not busy.ok and "fuser -v /dev/snd/*" in busy.fix
    assert "systemctl --user stop trust-coach" in busy.fix
    rate = audio_problem("speaker", REAL_ERRORS[0][0], microphone=False, rate=22_050,
                         native=48_000)
    assert rate.detail == "refuses 22050 Hz (PortAudio: Invalid sample rate)"
    assert "plays at its own 48000 Hz" in rate.fix
    missing = audio_problem("microphone", REAL_ERRORS[7][0], microphone=True)
    assert 'device = "NAME"' in missing.fix and "--device NAME" in missing.fix


# --- a USB microphone that is not the default (names as a Raspberry Pi shows them) ------------


def _device(index, name, inputs, outputs, default_in=False):
    return DeviceInfo(index, name, inputs, outputs, 48_000.0, default_in, False)


PI_HEADPHONES = _device(0, "bcm2835 Headphones: - (hw:0,0)", 0, 8)
PI_USB_MIC = _device(1, "USB PnP Sound Device: Audio (hw:1,0)", 1, 0)
PI_DEFAULT = _device(2, "default", 128, 128, default_in=True)


def test_a_usb_microphone_behind_another_default_is_named_without_its_card_number():
    found = usb_microphone_check(Settings(), [PI_HEADPHONES, PI_USB_MIC, PI_DEFAULT])
    assert found is not None and not found.ok
    assert found.fix.startswith('add device = "USB PnP Sound Device: Audio" to ')


def test_no_usb_advice_when_it_is_the_default_a_device_is_set_or_a_sound_server_routes():
    usb_default = replace(PI_USB_MIC, is_default_input=True)
    default_elsewhere = replace(PI_DEFAULT, is_default_input=False)
    assert usb_microphone_check(Settings(), [usb_default, default_elsewhere]) is None
    assert usb_microphone_check(replace(Settings(), device=2),
                                [PI_USB_MIC, PI_DEFAULT]) is None
    pipewire = _device(3, "pipewire", 64, 64)
    assert usb_microphone_check(Settings(), [PI_USB_MIC, pipewire, PI_DEFAULT]) is None
    assert usb_microphone_check(Settings(), [PI_HEADPHONES, PI_DEFAULT]) is None


# --- models, memory, CPU, settings ------------------------------------------------------------


def test_the_installed_pocketsphinx_model_matches_its_wheel():
    check = pocketsphinx_check()
    assert check.ok, check.detail
    assert re.fullmatch(r"embedded, \d+ files match their checksums", check.detail)


def test_a_corrupt_whisper_folder_is_found_and_the_rebuild_named(tmp_path):
    from voice.models import find_whisper_model
    from voice.settings import default_models_root

    installed = find_whisper_model(None, default_models_root())
    if installed is None or installed.path is None:
        pytest.skip("no installed Whisper folder (make builds models/whisper-base)")
    folder = tmp_path / "whisper-base"
    folder.mkdir()
    for name in ("model.bin", "tokenizer.json", "vocabulary.json"):
        (folder / name).symlink_to(installed.path / name)
    config = (installed.path / "config.json").read_bytes()
    (folder / "config.json").write_bytes(config + b" ")  # one byte more: a different file
    assert hashlib.sha256(config).hexdigest() != hashlib.sha256(config + b" ").hexdigest()
    settings = replace(Settings(), models_root=tmp_path)
    check = whisper_check(settings)
    assert check == Check("Whisper model", False, f"{folder / 'config.json'} is corrupt "
                          "(SHA-256 mismatch)", f"rm -r {folder} && trust-coach models "
                          "install whisper-base")
    (folder / "config.json").write_bytes(config)
    assert whisper_check(settings) == Check("Whisper model", True,
                                            f"{folder}, checksums match")


def test_memory_is_compared_with_what_the_engine_needs():
    assert memory_check("whisper", available=300).ok is False
    assert "pocketsphinx" in memory_check("whisper", available=300).fix
    assert memory_check("pocketsphinx", available=300).ok
    assert memory_check("whisper", available=2000).ok


def test_cpu_names_a_32_bit_system_and_an_overloaded_one():
    assert cpu_check("aarch64", 4, 0.5).ok
    armv7 = cpu_check("armv7l", 4, 0.5)
    assert not armv7.ok and "64-bit" in armv7.fix
    assert not cpu_check("aarch64", 4, 14.0).ok


def test_settings_file_problems_name_the_file(tmp_path):
    broken = tmp_path / "settings.toml"
    broken.write_text("region = \n")
    check = check_settings_file(broken)
    assert not check.ok and check.detail.startswith(f"{broken}: is not valid TOML")
    assert check.fix.startswith(f"edit {broken}")
    assert check_settings_file(tmp_path / "absent.toml").ok
    broken.write_text('region = "UK"\nrate = 150\n')
    assert check_settings_file(broken) == Check(
        "settings", True, f"{broken}: 2 settings, all valid")


def test_the_piper_voice_that_would_speak_is_checked_and_heard():
    from voice.doctor import piper_check
    from voice.piper_voice import default_piper_voice, piper_installed

    check = piper_check(Settings())
    if not piper_installed() or default_piper_voice() is None:
        assert check.ok and "optional; espeak-ng speaks" in check.detail
        return
    assert check.ok, check.detail
    assert re.fullmatch(r"'\w+' \(\S+\) speaks \(\d\.\d s for \"Hello\.\"\); \d+ files match "
                        r"their checksums", check.detail), check.detail


def test_espeak_is_checked_with_its_own_voice_when_a_piper_voice_is_set():
    from voice.doctor import espeak_check

    check = espeak_check(replace(Settings(), voice="joe"))
    assert check.ok, check.detail
    unknown = espeak_check(replace(Settings(), voice="Klingon (Qo'noS)"))
    assert not unknown.ok and "trust-coach say --list-voices" in unknown.fix


@pytest.mark.hardware
def test_the_speaker_plays_a_rate_it_refuses_at_its_own_rate(tmp_path):
    """What the speaker check relies on (voice.devices.SpeakerSink): PortAudio's real "Invalid
    sample rate" for 768 kHz audio, then the same sound resampled to the device's 44.1 kHz."""
    import os
    import subprocess
    import sys

    home = _home(tmp_path, {})
    script = (
        "import numpy as np\n"
        "from voice.audio import AudioChunk\n"
        "from voice.devices import SpeakerSink\n"
        "rate = 768_000\n"
        "t = np.arange(rate // 2) / rate\n"
        "tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype('<i2').tobytes()\n"
        "SpeakerSink('testspeaker').play(AudioChunk(tone, rate, 2, 1))\n")
    subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                   env={**os.environ, "HOME": str(home)}, check=True)
    played = np.frombuffer((tmp_path / "speaker.raw").read_bytes(), dtype="<i2")
    assert abs(len(played) - DEVICE_RATE // 2) < DEVICE_RATE // 10  # half a second at 44.1 kHz
    assert np.abs(played).max() > 6000
