"""The input edge: WAV parsing, the one conversion to 16 kHz mono 16-bit, and bad files."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import decode, recording, run_cli
from wavmaker import write_wav, write_wav_bytes

from common.errors import AudioFileError
from voice.audio import SPEECH_FORMAT, AudioChunk
from voice.convert import AudioChunkConverter, Resampler, convert_all, pcm16
from voice.wav import WavWriter, iter_wav_chunks, read_speech_wav, read_wav_info


def speech_samples() -> np.ndarray:
    """A real spoken request as float samples at 16 kHz."""
    chunk = read_speech_wav(recording("piper-joe--calm-help.wav"))
    return pcm16(chunk).astype(np.float64) / 32768


def resample(values: np.ndarray, src: int, dst: int) -> np.ndarray:
    r = Resampler(src, dst)
    return np.concatenate([r.process(values), r.flush()])


@pytest.mark.parametrize(("src", "dst"), [(44_100, 16_000), (48_000, 16_000), (8_000, 16_000),
                                          (22_050, 16_000), (11_025, 16_000), (16_000, 44_100)])
def test_resampler_reproduces_a_tone_and_keeps_length(src, dst):
    t = np.arange(src) / src
    out = resample(np.sin(2 * np.pi * 440 * t), src, dst)
    assert len(out) == dst
    expected = np.sin(2 * np.pi * 440 * np.arange(dst) / dst)
    assert np.max(np.abs(out[64:-64] - expected[64:-64])) < 1e-3


def test_resampler_output_does_not_depend_on_chunk_boundaries():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(30_000).astype(np.float32) * 0.1
    whole = resample(x, 44_100, 16_000)
    r = Resampler(44_100, 16_000)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 2_000))
        parts.append(r.process(x[i:i + n]))
        i += n
    parts.append(r.flush())
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)


def test_downsampling_removes_content_above_the_new_nyquist():
    t = np.arange(48_000) / 48_000
    out = resample(np.sin(2 * np.pi * 11_000 * t), 48_000, 16_000)  # 11 kHz > 8 kHz Nyquist
    assert np.sqrt(np.mean(out[100:-100] ** 2)) < 1e-3


@pytest.mark.parametrize("encoding", ["pcm8", "pcm16", "pcm24", "pcm32", "float32"])
@pytest.mark.parametrize(("rate", "channels", "extensible"),
                         [(16_000, 1, False), (44_100, 2, False), (8_000, 1, False),
                          (48_000, 2, True), (22_050, 1, True)])
def test_any_pcm_wav_is_converted_to_the_speech_format(tmp_path, encoding, rate, channels,
                                                       extensible):
    speech = resample(speech_samples(), 16_000, rate) * 0.8
    values = np.stack([speech] * channels, axis=1) if channels == 2 else speech
    path = write_wav(tmp_path / "in.wav", values, rate, encoding, extensible=extensible,
                     extra_chunk=True)
    info = read_wav_info(path)
    assert (info.rate, info.channels) == (rate, channels)
    chunk = read_speech_wav(path)
    assert chunk.format == SPEECH_FORMAT
    assert abs(chunk.duration - len(speech) / rate) < 0.01
    back = pcm16(chunk).astype(np.float64) / 32768
    original = speech_samples() * 0.8
    n = min(len(back), len(original))
    # 8-bit and 8 kHz lose detail; everything else must come back nearly unchanged.
    tolerance = 0.06 if encoding == "pcm8" or rate == 8_000 else 0.01
    error = np.sqrt(np.mean((back[200:n - 200] - original[200:n - 200]) ** 2))
    assert error < tolerance


def test_odd_formats_still_transcribe_to_the_same_request(tmp_path, pocketsphinx_restricted,
                                                          matcher):
    speech = speech_samples() * 0.8
    stereo_44k = np.stack([resample(speech, 16_000, 44_100)] * 2, axis=1)
    layouts = {
        "stereo-44k-24bit-extensible": write_wav(tmp_path / "a.wav", stereo_44k, 44_100,
                                                 "pcm24", extensible=True),
        "mono-8k-8bit": write_wav(tmp_path / "b.wav", resample(speech, 16_000, 8_000), 8_000,
                                  "pcm8"),
        "mono-48k-float": write_wav(tmp_path / "c.wav", resample(speech, 16_000, 48_000),
                                    48_000, "float32"),
    }
    for name, path in layouts.items():
        heard = decode(pocketsphinx_restricted, [read_speech_wav(path)]).text
        assert "help me calm down" in heard, (name, heard)
        assert matcher.understand(heard).id == "calm_down", (name, heard)


def test_streaming_conversion_equals_whole_file_conversion(tmp_path):
    values = resample(speech_samples(), 16_000, 44_100)
    path = write_wav(tmp_path / "a.wav", values, 44_100)
    whole = read_speech_wav(path)
    converter = AudioChunkConverter()
    pieces = [converter.convert(c) for c in iter_wav_chunks(path, chunk_seconds=0.013)]
    tail = converter.flush()
    joined = b"".join(p.samples for p in pieces) + (tail.samples if tail else b"")
    assert joined == whole.samples
    # timestamps run on without gaps
    for before, after in itertools.pairwise(pieces):
        assert after.timestamp == pytest.approx(before.end, abs=1e-9)


def test_sixteen_khz_mono_passes_through_untouched():
    chunk = AudioChunk(bytes(range(256)) * 4, 16_000, 2, 1)
    assert convert_all([chunk]).samples == chunk.samples


def test_wav_writer_header_is_valid_after_every_write(tmp_path):
    path = tmp_path / "out.wav"
    writer = WavWriter(path, 16_000)
    for seconds in (1, 2):
        writer.write(AudioChunk(bytes(32_000), 16_000, 2, 1))
        # readable mid-stream: a crash now would lose nothing already written
        assert read_wav_info(path).duration == pytest.approx(seconds)
    writer.close()


# --- bad files: one clear line naming the file and the problem --------------------------------


def _bad_files(tmp_path):
    good = (np.sin(np.arange(1600) / 5) * 0.5).astype(np.float64)
    data16 = (good * 32767).astype("<i2").tobytes()
    mp3ish = tmp_path / "song.wav"
    mp3ish.write_bytes(b"ID3\x03\x00\x00\x00" + bytes(100))
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    return {
        "not a WAV": mp3ish,
        "not a WAV ": text,
        "empty file": empty,
        "truncated": write_wav_bytes(tmp_path / "cut.wav", data16[:1000], tag=1, bits=16,
                                     rate=16_000, channels=1, declared_data_size=len(data16)),
        "contains no audio": write_wav_bytes(tmp_path / "zero.wav", b"", tag=1, bits=16,
                                             rate=16_000, channels=1, declared_data_size=None),
        "mu-law": write_wav_bytes(tmp_path / "ulaw.wav", bytes(800), tag=7, bits=8,
                                  rate=8_000, channels=1),
        "Microsoft ADPCM": write_wav_bytes(tmp_path / "adpcm.wav", bytes(800), tag=2, bits=4,
                                           rate=8_000, channels=1),
        "unsupported sample rate": write_wav_bytes(tmp_path / "slow.wav", data16, tag=1,
                                                   bits=16, rate=4_000, channels=1),
        "no such file": tmp_path / "missing.wav",
        "is a directory": tmp_path,
    }


def test_every_bad_file_gets_one_clear_error(tmp_path):
    for problem, path in _bad_files(tmp_path).items():
        with pytest.raises(AudioFileError) as caught:
            read_speech_wav(path)
        message = str(caught.value)
        assert str(path) in message, message
        assert problem.strip() in message, message
        assert "\n" not in message


def test_zero_sized_data_chunk_is_read_to_the_end_of_file(tmp_path):
    # Streaming recorders write 0 (or 0xFFFFFFFF) and never patch the header.
    data = (np.sin(np.arange(8000) / 5) * 10_000).astype("<i2").tobytes()
    path = write_wav_bytes(tmp_path / "stream.wav", data, tag=1, bits=16, rate=16_000,
                           channels=1, declared_data_size=0xFFFFFFFF)
    assert read_wav_info(path).duration == pytest.approx(0.5)


def test_command_line_reports_a_bad_file_in_one_line_and_goes_on(tmp_path):
    bad = _bad_files(tmp_path)["truncated"]
    good = recording("piper-joe--causes.wav")
    result = run_cli("understand", str(bad), str(good), "--json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if str(bad) in line]
    assert errors == [f"trust-coach: {bad}: truncated: header promises 0.10 s of audio, "
                      "file holds 0.03 s"]
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert '"error"' in lines[0] and '"intent": "causes"' in lines[1]
