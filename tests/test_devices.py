"""The real sounddevice/PortAudio path, without a sound card: ALSA's "file" plugin gives
PortAudio a microphone that reads a raw recording and a speaker that writes one. The program is
run in its own process with HOME pointing at a folder holding that ALSA configuration."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import recording, run_cli

from voice.audio import AudioChunk
from voice.convert import Resampler, pcm16
from voice.wav import read_speech_wav

pytestmark = pytest.mark.hardware

DEVICE_RATE = 44_100  # what ALSA's plug layer reports as the default rate


def _asoundrc(home, mic_raw, speaker_raw) -> None:
    """ALSA devices backed by files: a microphone that reads `mic_raw` (none when it is None;
    it delivers as fast as it is read, not at the pace of speech) and a speaker that appends
    what it plays to `speaker_raw`."""
    mic = "" if mic_raw is None else f"""
pcm.testmic {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{mic_raw}"
    format "raw"
    hint {{ show on description "trust-coach test microphone" }}
}}"""
    # The speaker is playback only (asym), as a real one is: a file plugin alone can also
    # record, and would then be taken for the default microphone.
    (home / ".asoundrc").write_text(mic + f"""
pcm.testspeaker {{
    type asym
    playback.pcm {{
        type file
        slave.pcm "null"
        file "|cat >> {speaker_raw}"
        format "raw"
    }}
    hint {{ show on description "trust-coach test speaker" }}
}}
""")


def _raw_at_device_rate(*names: str, gap: float = 1.0) -> bytes:
    """Recordings as the microphone delivers them: 44.1 kHz mono 16-bit, with pauses."""
    parts = []
    for name in names:
        speech = pcm16(read_speech_wav(recording(name))).astype(np.float32) / 32768
        parts += [speech, np.zeros(int(gap * 16_000), dtype=np.float32)]
    parts.append(np.zeros(16_000 * 2, dtype=np.float32))
    resampler = Resampler(16_000, DEVICE_RATE)
    values = np.concatenate([resampler.process(np.concatenate(parts)), resampler.flush()])
    return np.clip(values * 32768, -32768, 32767).astype("<i2").tobytes()


@pytest.fixture
def fake_audio(tmp_path):
    mic, speaker = tmp_path / "mic.raw", tmp_path / "speaker.raw"
    _asoundrc(tmp_path, mic, speaker)
    return tmp_path, mic, speaker


def test_devices_lists_the_alsa_devices(fake_audio):
    home, _, _ = fake_audio
    result = run_cli("devices", env={"HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert "testmic" in result.stdout and "testspeaker" in result.stdout


def test_microphone_and_speaker_through_portaudio(fake_audio):
    home, mic, speaker = fake_audio
    # On the microphone the wake phrase is on: said alone, then "goodbye" as a follow-up.
    mic.write_bytes(_raw_at_device_rate("piper-joe--wake-only.wav", "piper-joe--goodbye.wav"))
    result = run_cli("listen", "--device", "testmic", "--output-device", "testspeaker",
                     env={"HOME": str(home)}, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "listening: microphone 'testmic' at 44100 Hz" in result.stderr
    assert 'say "hey coach" first' in result.stderr
    assert "wake phrase heard: listening" in result.stdout
    assert "| intent: goodbye" in result.stdout
    # The greeting and the farewell were played on the speaker device: real audio, not zeros.
    # (Each reply opens the device anew; the ALSA pipe appends them to one file.)
    played = np.frombuffer(speaker.read_bytes(), dtype="<i2")
    assert len(played) > 22_050 * 14
    assert np.abs(played).max() > 1000


def test_microphone_audio_arrives_converted_and_recognisable(fake_audio, pocketsphinx_restricted,
                                                             matcher):
    """The same PortAudio capture path, in this process: chunks from the device, converted at
    the edge, recognised."""
    import os
    import subprocess
    import sys

    home, mic, _ = fake_audio
    mic.write_bytes(_raw_at_device_rate("piper-joe--tips.wav"))
    script = (
        "import threading, sys\n"
        "from voice.devices import MicrophoneSource\n"
        "from voice.convert import convert_all\n"
        "source = MicrophoneSource('testmic')\n"
        "chunks = []\n"
        "stop = threading.Event()\n"
        "def emit(c):\n"
        "    chunks.append(c)\n"
        "    if sum(x.duration for x in chunks) > 4.5: stop.set()\n"
        "source.run(emit, lambda e: print('error', e, file=sys.stderr), stop)\n"
        "audio = convert_all(chunks)\n"
        "sys.stdout.buffer.write(audio.samples)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                          env={**os.environ, "HOME": str(home)}, check=True)
    audio = AudioChunk(done.stdout, 16_000, 2, 1)
    assert audio.duration > 4.0
    from voice.listening import transcribe_recording

    heard = transcribe_recording(pocketsphinx_restricted, audio).text
    assert matcher.understand(heard).id == "tips", heard


def test_no_microphone_says_so_in_one_line(tmp_path):
    result = run_cli("listen", env={"HOME": str(tmp_path)})  # no sound card, no ALSA devices
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "trust-coach: no microphone found; plug one in, pick one with --device N, or use "
        "--input FILE.wav")


def test_an_unknown_device_is_named(fake_audio):
    home, _, _ = fake_audio
    result = run_cli("listen", "--device", "nosuchmic", env={"HOME": str(home)})
    assert result.returncode == 2
    assert "input device 'nosuchmic' not found; see 'trust-coach devices'" in result.stderr


def test_breathe_without_a_microphone_plays_without_listening(tmp_path):
    speaker = tmp_path / "speaker.raw"
    _asoundrc(tmp_path, None, speaker)
    result = run_cli("breathe", "--pattern", "gentle", "--rounds", "1", "--output-device",
                     "testspeaker", env={"HOME": str(tmp_path)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "trust-coach: no microphone found; plug one in, pick one with --device N, or use " \
           "--input FILE.wav; breathing without listening (Ctrl-C ends it)" in result.stderr
    assert [line[:9] for line in result.stdout.splitlines() if line.startswith("cue ")] == \
           ["cue 1.1 i", "cue 1.2 o"]
    played = np.frombuffer(speaker.read_bytes(), dtype="<i2")
    assert len(played) > 22_050 * 10 and np.abs(played).max() > 1000  # intro and both cues


def test_breathe_with_a_microphone_asked_for_by_name_that_is_missing_fails(tmp_path):
    result = run_cli("breathe", "--device", "nosuchmic", env={"HOME": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "trust-coach: input device 'nosuchmic' not found; see 'trust-coach devices'")
