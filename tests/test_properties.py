"""Whatever arrives, nothing but the project's own errors escapes (issue 13): random bytes and
random headers for the WAV reader, random text and random tables for the settings file and the
content library, random strings for the matcher (which always answers with a catalog id)."""

from __future__ import annotations

import shutil
import struct
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import AudioFileError, LibraryError, SettingsFileError
from intents.catalog import ALL_IDS
from voice.settings import FILE_SETTINGS, read_settings_file

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


# --- WAV files ------------------------------------------------------------------------------


def _read(tmp_path: Path, data: bytes) -> None:
    from voice.wav import iter_wav_chunks, read_wav_info

    path = tmp_path / "random.wav"
    path.write_bytes(data)
    try:
        info = read_wav_info(path)
    except AudioFileError:
        return
    for _ in iter_wav_chunks(path, 0.1, info):  # what parses must also read
        pass


@FAST
@given(data=st.binary(max_size=400))
def test_random_bytes_are_a_wav_error_or_a_wav(tmp_path, data):
    _read(tmp_path, data)


@FAST
@given(tag=st.integers(0, 0xFFFF), channels=st.integers(0, 0xFFFF),
       rate=st.integers(0, 0xFFFFFFFF), bits=st.integers(0, 0xFFFF),
       size=st.integers(0, 0xFFFFFFFF), fmt_size=st.sampled_from([14, 16, 18, 40]),
       body=st.binary(max_size=300))
def test_random_headers_are_a_wav_error_or_a_wav(tmp_path, tag, channels, rate, bits, size,
                                                 fmt_size, body):
    fmt = struct.pack("<HHIIHH", tag, channels, rate, 0, 0, bits)
    fmt = (fmt + bytes(max(0, fmt_size - len(fmt))))[:fmt_size]
    data = (b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVE" + b"fmt "
            + struct.pack("<I", fmt_size) + fmt + b"data" + struct.pack("<I", size) + body)
    _read(tmp_path, data)


# --- the settings file ------------------------------------------------------------------------

_VALUES = st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=20),
                    st.floats(allow_nan=False), st.lists(st.integers(), max_size=3))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return repr(value) if not isinstance(value, list) else "[" + ", ".join(map(str, value)) + "]"


@FAST
@given(text=st.text(max_size=300))
def test_random_text_in_the_settings_file_is_a_settings_error_or_settings(tmp_path, text):
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    try:
        values = read_settings_file(path)
    except SettingsFileError as error:
        assert str(path) in str(error)
        return
    assert set(values) <= {name for name, _ in FILE_SETTINGS.values()}


@FAST
@given(table=st.dictionaries(st.sampled_from([*FILE_SETTINGS, "bogus", "voice "]), _VALUES,
                             max_size=6))
def test_random_settings_are_checked_one_by_one(tmp_path, table):
    path = tmp_path / "settings.toml"
    lines = [f'"{key}" = {_toml_value(value)}' for key, value in table.items()
             if isinstance(value, bool | int | float | str | list)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError:
        return  # the broken-text case above covers text that is not TOML
    try:
        read_settings_file(path)
    except SettingsFileError as error:
        assert str(path) in str(error)


# --- the content library ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def library_copy(tmp_path_factory):
    from intents.library import DEFAULT_LIBRARY

    folder = tmp_path_factory.mktemp("library")
    for path in DEFAULT_LIBRARY.glob("*.toml"):
        shutil.copy(path, folder / path.name)
    return folder


@FAST
@given(name=st.sampled_from(["control.toml", "lines.toml", "safety.toml", "breathing.toml",
                             "conversation.toml"]),
       position=st.floats(0, 1), insert=st.text(max_size=60))
def test_a_damaged_library_file_is_a_library_error_or_a_library(library_copy, name, position,
                                                                insert):
    from intents.library import load_library

    path = library_copy / name
    original = path.read_text(encoding="utf-8")
    cut = int(position * len(original))
    path.write_text(original[:cut] + insert + original[cut:], encoding="utf-8")
    try:
        load_library(library_copy)
    except LibraryError as error:
        assert str(library_copy) in str(error)
    finally:
        path.write_text(original, encoding="utf-8")


# --- the matcher ------------------------------------------------------------------------------


@FAST
@given(text=st.text(max_size=400))
def test_the_matcher_always_answers_with_a_catalog_id(matcher, text):
    intent = matcher.understand(text)
    assert intent.id in ALL_IDS
    assert 0.0 <= intent.confidence <= 1.0


@FAST
@given(words=st.lists(st.sampled_from(
    "he she me hit kill help calm breathe tip trust i am not stop slower the or our my "
    "leave cheers thanks hi sad scared money phone".split()), max_size=14))
def test_the_matcher_answers_any_jumble_of_its_own_words(matcher, words):
    text = " ".join(words)
    intent = matcher.understand(text, [text[::-1]])
    assert intent.id in ALL_IDS
