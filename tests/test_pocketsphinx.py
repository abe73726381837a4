"""The embedded default engine on real recordings."""

from __future__ import annotations

import pytest
from conftest import decode, recording

from voice.audio import AudioChunk
from voice.wav import iter_wav_chunks, read_speech_wav


def chunks_of(audio: AudioChunk, size: int) -> list[AudioChunk]:
    step = size * 2
    return [AudioChunk(audio.samples[i:i + step], 16_000, 2, 1)
            for i in range(0, len(audio.samples), step)]


def test_transcribes_a_request_with_words_and_times(pocketsphinx_restricted):
    transcript = decode(pocketsphinx_restricted,
                            [read_speech_wav(recording("piper-joe--causes.wav"))])
    assert transcript.text == "what causes trust issues"
    assert transcript.engine == "pocketsphinx"
    assert [w.text for w in transcript.words] == transcript.text.split()
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts) and 0.2 <= starts[0] <= 0.6  # after the 0.3 s lead-in
    assert 0.0 <= transcript.confidence <= 1.0


@pytest.mark.parametrize("size", [160, 1024, 4000, 16_000])
def test_streaming_in_any_chunk_size_gives_the_same_result(pocketsphinx_restricted, size):
    audio = read_speech_wav(recording("piper-joe--tip-forgiveness.wav"))
    whole = decode(pocketsphinx_restricted, [audio]).text
    assert decode(pocketsphinx_restricted, chunks_of(audio, size)).text == whole


def test_results_do_not_depend_on_what_came_before(pocketsphinx_restricted):
    first = read_speech_wav(recording("piper-joe--help.wav"))
    other = read_speech_wav(recording("festival-kal--causes.wav"))
    alone = decode(pocketsphinx_restricted, [first]).text
    decode(pocketsphinx_restricted, [other])
    assert decode(pocketsphinx_restricted, [first]).text == alone


def test_partial_results_grow_while_speaking(pocketsphinx_restricted):
    session = pocketsphinx_restricted.start()
    partials = []
    for chunk in iter_wav_chunks(recording("piper-joe--tip-gradual.wav"), 0.25):
        session.accept(chunk)
        partials.append(session.partial())
    final = session.finish()
    assert partials[0] == "" or len(partials[0]) <= len(final.text)
    assert any(p and final.text.startswith(p.split()[0]) for p in partials)


def test_silence_gives_an_empty_transcript(pocketsphinx_restricted):
    transcript = decode(pocketsphinx_restricted, [read_speech_wav(recording("silence.wav"))])
    assert transcript.is_empty and transcript.confidence == 0.0


def test_a_session_can_be_finished_only_once(pocketsphinx_restricted):
    session = pocketsphinx_restricted.start()
    session.accept(read_speech_wav(recording("piper-joe--yes.wav")))
    session.finish()
    with pytest.raises(RuntimeError):
        session.finish()


def test_wrong_audio_format_is_refused_at_the_engine(pocketsphinx_restricted):
    session = pocketsphinx_restricted.start()
    with pytest.raises(ValueError, match="convert at the input edge"):
        session.accept(AudioChunk(bytes(8820), 44_100, 2, 1))
    session.finish()


def test_the_full_english_model_also_works(pocketsphinx_full):
    transcript = decode(pocketsphinx_full,
                            [read_speech_wav(recording("piper-joe--causes.wav"))])
    assert transcript.text == "what causes trust issues"


def test_the_library_language_model_is_built_once_and_cached(library, tmp_path):
    from intents.grammar import recognition_sentences
    from voice.domain_lm import build_domain_model

    sentences = recognition_sentences(library)
    first = build_domain_model(sentences, tmp_path)
    stamp = first.lm.stat().st_mtime_ns
    again = build_domain_model(sentences, tmp_path)
    assert again == first and again.lm.stat().st_mtime_ns == stamp
    changed = build_domain_model([*sentences, "a brand new phrase"], tmp_path)
    assert changed.lm != first.lm
    text = first.lm.read_text()
    assert "\\data\\" in text and "what causes trust" in text
    words = {line.split()[0].split("(")[0] for line in first.dictionary.read_text().splitlines()}
    assert {"trust", "breathing", "suicide", "weather"} <= words  # domain, crisis, general


def test_a_finished_utterance_carries_the_runner_up_reading(pocketsphinx_restricted):
    transcript = decode(pocketsphinx_restricted,
                            [read_speech_wav(recording("piper-joe--causes.wav"))])
    assert transcript.text == "what causes trust issues"
    assert len(transcript.alternatives) == 1
    assert transcript.alternatives[0] != transcript.text and transcript.alternatives[0].split()
