"""The sentence encoder and the phrase index, on the real all-MiniLM-L6-v2 and real sentences."""

from __future__ import annotations

import logging
import zipfile

import numpy as np
import pytest

from common.errors import SentenceModelError
from intents import embeddings
from intents.embeddings import DIM, EmbeddingIndex, SentenceEncoder, find_model_zip

MODEL_ZIP = find_model_zip()  # installed with the project: a missing model fails the suite


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("embeddings")


@pytest.fixture(scope="module")
def encoder(cache):
    return SentenceEncoder(cache_dir=cache)


@pytest.fixture(scope="module")
def numpy_encoder(cache):
    return SentenceEncoder(cache_dir=cache, backend="numpy")


# sentence-transformers 6.2 (PyTorch) on the same model: the first 12 of 384 dimensions.
REFERENCE = {
    "I'm afraid of my partner": [0.03129, 0.02115, 0.00616, 0.08256, 0.03217, 0.06798,
                                 0.05104, -0.01118, 0.05791, -0.03758, -0.05755, -0.09998],
    "let's do some box breathing together": [0.0193, 0.02272, -0.0011, 0.00549, -0.027,
                                             -0.04297, 0.02119, -0.10364, -0.03921, 0.00538,
                                             -0.02201, 0.00788],
}


def test_both_backends_give_the_reference_vectors(encoder, numpy_encoder):
    texts = [*REFERENCE, "he hit me last night", "what's the weather like", "stop"]
    fast, plain = encoder.encode(texts), numpy_encoder.encode(texts)
    for vectors in (fast, plain):
        for row, expected in zip(vectors, REFERENCE.values(), strict=False):
            np.testing.assert_allclose(row[:12], expected, atol=2e-5)
    assert (fast * plain).sum(axis=1).min() > 0.99999
    assert encoder.backend in ("onnxruntime", "numpy")
    assert numpy_encoder.backend == "numpy"


def test_no_part_of_the_model_stays_mapped_after_loading(cache, encoder, numpy_encoder):
    """The word vectors are read from the file as sentences need them: a mapped table kept
    every page a word had touched, and the process grew with each new word all day."""
    import gc

    encoder.encode(["every word in this sentence is looked up", "zebra quixotic lantern"])
    numpy_encoder.encode(["a different set of words entirely"])
    gc.collect()
    with open("/proc/self/maps", encoding="ascii") as maps:
        mapped = [line for line in maps if "model.safetensors" in line]
    assert mapped == []


def test_a_cache_cleared_while_running_does_not_take_the_words_away(tmp_path):
    import shutil

    encoder = SentenceEncoder(cache_dir=tmp_path / "cache")
    before = encoder.encode(["words we have not looked up before"])
    shutil.rmtree(tmp_path / "cache")  # as a user clearing ~/.cache would
    again = encoder.encode(["quixotic zebras near the lantern"])
    assert again.shape == before.shape and np.isfinite(again).all()


def test_int8_is_close_to_float_and_cached_apart(cache, encoder):
    if encoder.backend != "onnxruntime":
        pytest.skip("int8 needs onnxruntime")
    quantized = SentenceEncoder(cache_dir=cache, int8=True)
    texts = [*REFERENCE, "i'm scared to go home tonight", "stop"]
    vectors = quantized.encode(texts)
    assert (vectors * encoder.encode(texts)).sum(axis=1).min() > 0.95
    for text, row in zip(texts, vectors, strict=True):  # batches do not change a vector
        np.testing.assert_allclose(quantized.encode_one(text), row, atol=1e-6)
    assert quantized.fingerprint != encoder.fingerprint  # an index of one is not the other's
    with pytest.raises(ValueError, match="int8"):
        SentenceEncoder(cache_dir=cache, backend="numpy", int8=True)
    with pytest.raises(ValueError, match="backend"):
        SentenceEncoder(cache_dir=cache, backend="torch")


def test_a_damaged_graph_in_the_cache_is_written_again(tmp_path, encoder, caplog):
    if encoder.backend != "onnxruntime":
        pytest.skip("the graph is for onnxruntime")
    first = SentenceEncoder(cache_dir=tmp_path)
    graphs = list(tmp_path.rglob("encoder-*.onnx"))
    assert len(graphs) == 1
    graphs[0].write_bytes(b"\x00 not a graph")
    with caplog.at_level(logging.WARNING):
        again = SentenceEncoder(cache_dir=tmp_path)
    assert again.backend == "onnxruntime"
    assert "writing it again" in caplog.text
    np.testing.assert_allclose(again.encode_one("stop"), first.encode_one("stop"), atol=1e-6)


def cosine(encoder, a: str, b: str) -> float:
    return float(encoder.encode_one(a) @ encoder.encode_one(b))


@pytest.mark.parametrize(("text", "paraphrase", "unrelated"), [
    ("I'm scared of what he'll do when he gets home", "I'm afraid of my partner",
     "what's the weather"),
    ("can you help me calm down, my heart is racing", "help me breathe slowly",
     "play some music"),
    ("she lied to me about where she was", "my partner keeps being dishonest",
     "set a timer for ten minutes"),
    ("why can't I trust anyone", "what causes trust issues", "how tall is mount everest"),
])
def test_paraphrases_are_closer_than_unrelated_sentences(encoder, text, paraphrase, unrelated):
    near, far = cosine(encoder, text, paraphrase), cosine(encoder, text, unrelated)
    assert near > far + 0.15, (near, far)


def test_vectors_are_unit_length_float32_and_deterministic(encoder):
    texts = ["he hit me last night", "stop", "", "tell me a tip about forgiveness " * 40]
    first = encoder.encode(texts)
    again = encoder.encode(list(reversed(texts)))[::-1]
    assert first.shape == (4, DIM)
    assert first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, encoder.encode(texts))  # bit for bit
    np.testing.assert_allclose(first, again, atol=1e-5)  # padding in a batch changes nothing
    for text, row in zip(texts, first, strict=True):
        np.testing.assert_allclose(encoder.encode_one(text), row, atol=1e-5)
    assert len(encoder.tokenize(texts[-1])) == embeddings.MAX_TOKENS  # truncated


def test_encode_one_remembers_recent_texts_read_only(encoder):
    passes = encoder.forward_passes
    vector = encoder.encode_one("i'm scared to go home tonight")
    assert encoder.encode_one("i'm scared to go home tonight") is vector
    assert encoder.forward_passes == passes + 1
    with pytest.raises(ValueError, match="read-only"):
        vector[0] = 1.0
    with pytest.raises(TypeError):
        encoder.encode("one text, not a list")


def test_a_second_start_uses_the_unpacked_model_without_hashing_the_zip(cache, encoder,
                                                                        monkeypatch):
    def no_hashing(path):
        raise AssertionError(f"hashed {path} again")

    monkeypatch.setattr(embeddings, "_sha256", no_hashing)
    warm = SentenceEncoder(cache_dir=cache)
    assert warm.model_sha256 == encoder.model_sha256
    np.testing.assert_array_equal(warm.encode_one("breathe with me"),
                                  encoder.encode_one("breathe with me"))


PHRASES = [
    ("let's do some box breathing", "calm_down"),
    ("help me calm down", "calm_down"),
    ("i need to breathe", "calm_down"),
    ("what causes trust issues", "causes"),
    ("why don't i trust my partner", "causes"),
    ("what's the weather like today", "none"),
    ("play some music", "none"),
    ("he hit me again last night", "crisis"),
    ("i'm afraid of my partner", "crisis"),
]


def test_index_gives_each_group_its_best_cosine_and_the_nearest_phrases(encoder, tmp_path):
    index = EmbeddingIndex(encoder, PHRASES, cache_dir=tmp_path)
    vector = encoder.encode_one("I'm scared of what he'll do when he gets home")
    best = index.similarities(vector)
    assert set(best) == {"calm_down", "causes", "none", "crisis"}
    assert max(best, key=best.get) == "crisis"
    assert best["crisis"] == pytest.approx(cosine(encoder, "i'm afraid of my partner",
                                                  "I'm scared of what he'll do when he gets home"),
                                           abs=1e-5)
    mean_two = index.similarities(vector, top=2)
    assert mean_two["crisis"] <= best["crisis"]
    nearest = index.neighbours(vector, k=3)
    assert [n.similarity for n in nearest] == sorted((n.similarity for n in nearest),
                                                     reverse=True)
    assert nearest[0].group == "crisis"
    assert len(index.neighbours(vector, k=50)) == len(PHRASES)


def test_phrase_vectors_are_kept_and_only_new_phrases_are_embedded(encoder, tmp_path, caplog):
    first = EmbeddingIndex(encoder, PHRASES, cache_dir=tmp_path)
    assert first.embedded == len(PHRASES)
    passes = encoder.forward_passes
    second = EmbeddingIndex(encoder, PHRASES, cache_dir=tmp_path)
    assert second.embedded == 0 and encoder.forward_passes == passes  # nothing recomputed
    np.testing.assert_array_equal(first.vectors, second.vectors)

    # A content author adds one phrase: only that one is embedded.
    changed = EmbeddingIndex(encoder, [*PHRASES, ("tell me more", "help")], cache_dir=tmp_path)
    assert changed.embedded == 1 and encoder.forward_passes == passes + 1
    assert [p.name for p in tmp_path.iterdir()] == [
        f"phrase-vectors-1-{encoder.fingerprint[:24]}.npz"]  # one store, no temporary left

    store = next(tmp_path.iterdir())
    store.write_bytes(b"not an array")
    with caplog.at_level(logging.WARNING):
        again = EmbeddingIndex(encoder, [*PHRASES, ("tell me more", "help")], cache_dir=tmp_path)
    assert again.embedded == len(PHRASES) + 1
    assert "unreadable" in caplog.text
    np.testing.assert_allclose(again.vectors, changed.vectors, atol=1e-6)


def test_a_missing_package_is_a_clear_error():
    with pytest.raises(SentenceModelError, match="not installed"):
        find_model_zip("no_such_model_package_xyz")


def test_a_corrupt_zip_is_a_clear_error_naming_the_file(tmp_path):
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"this is not a zip file" * 100)
    with pytest.raises(SentenceModelError, match=r"garbage\.zip: not a readable"):
        SentenceEncoder(cache_dir=tmp_path / "c1", model_zip=garbage)

    truncated = tmp_path / "truncated.zip"
    with MODEL_ZIP.open("rb") as source:
        truncated.write_bytes(source.read(2_000_000))
    with pytest.raises(SentenceModelError, match=r"truncated\.zip"):
        SentenceEncoder(cache_dir=tmp_path / "c2", model_zip=truncated)

    # A well-formed zip whose weights are not a model.
    impostor = tmp_path / "impostor.zip"
    with zipfile.ZipFile(MODEL_ZIP) as real, zipfile.ZipFile(impostor, "w") as fake:
        for name in ("tokenizer.json", "config.json"):
            fake.writestr(name, real.read(name))
        fake.writestr("model.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(SentenceModelError, match=r"model\.safetensors: not a readable"):
        SentenceEncoder(cache_dir=tmp_path / "c3", model_zip=impostor)

    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    with pytest.raises(SentenceModelError, match=r"a-file/all-MiniLM-L6-v2/\w+: cannot unpack"):
        SentenceEncoder(cache_dir=not_a_folder)

    missing = tmp_path / "nothing-here.zip"
    with pytest.raises(SentenceModelError, match=r"nothing-here\.zip"):
        SentenceEncoder(cache_dir=tmp_path / "c4", model_zip=missing)
