"""Speech models on disk: where to find them, whether they are complete, and the catalog of
models a person may download with an explicit command.

Nothing here touches the network except `download_model`, which only `trust-coach models
download` calls.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.errors import DownloadError, ModelError
from voice.settings import PROJECT_MODELS

log = logging.getLogger(__name__)

MODEL_ENV = "TRUST_COACH_MODEL"


def default_catalog() -> Path:
    return PROJECT_MODELS / "catalog.toml"


# --- finding and checking Vosk models --------------------------------------------------------

_VOSK_MARKERS = ("am", "conf", "graph")
_IVECTOR_FILES = ("final.ie", "final.dubm", "final.mat", "global_cmvn.stats",
                  "online_cmvn.conf", "splice.conf")


@dataclass(frozen=True, slots=True)
class FoundModel:
    path: Path
    source: str  # how it was found, for the start-up line


def vosk_model_problem(path: Path) -> str | None:
    """What is missing from a Vosk model directory (the layout Vosk's model.cc reads), or None."""
    if not path.exists():
        return "no such directory"
    if not path.is_dir():
        return "is a file, not a Vosk model directory"
    for required in ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf"):
        if not (path / required).is_file():
            return f"incomplete Vosk model: missing {required}"
    graph = path / "graph"
    if not (graph / "HCLG.fst").is_file():
        for required in ("HCLr.fst", "Gr.fst", "disambig_tid.int"):
            if not (graph / required).is_file():
                return f"incomplete Vosk model: missing graph/{required} (and no graph/HCLG.fst)"
    if (path / "ivector").is_dir():
        for name in _IVECTOR_FILES:
            if not (path / "ivector" / name).is_file():
                return f"incomplete Vosk model: missing ivector/{name}"
    return None


def check_vosk_model(path: Path) -> None:
    if problem := vosk_model_problem(path):
        raise ModelError(path, problem)


def supports_grammar(path: Path) -> bool:
    """Only lookahead models (HCLr + Gr, no static HCLG) can switch to a runtime grammar."""
    return not (path / "graph" / "HCLG.fst").is_file()


def looks_like_vosk_model(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".") and (
        path.name.startswith("vosk-model") or any((path / m).is_dir() for m in _VOSK_MARKERS))


def find_vosk_model(explicit: Path | None, models_root: Path) -> FoundModel | None:
    """--model, else $TRUST_COACH_MODEL, else the first Vosk model in the models directory.

    A directory that is named but incomplete is an error (naming the missing file), never a
    silent fall-back to another engine.
    """
    if explicit is not None:
        check_vosk_model(explicit)
        return FoundModel(explicit, "--model")
    if env := os.environ.get(MODEL_ENV):
        check_vosk_model(Path(env))
        return FoundModel(Path(env), f"${MODEL_ENV}")
    if not models_root.is_dir():
        return None
    for candidate in sorted(p for p in models_root.iterdir() if looks_like_vosk_model(p)):
        check_vosk_model(candidate)
        return FoundModel(candidate, f"first model in {models_root}")
    return None


# --- Whisper ---------------------------------------------------------------------------------

WHISPER_INSTALL = "whisper-base"  # the folder `models install whisper-base` writes


@dataclass(frozen=True, slots=True)
class FoundWhisper:
    path: Path | None  # a CTranslate2 Whisper folder; None: the installed model wheels
    source: str

    def describe(self) -> str:
        return f"{self.path} ({self.source})" if self.path else f"base ({self.source})"


def looks_like_whisper_model(path: Path) -> bool:
    """A CTranslate2 Whisper folder: model.bin and a config naming Whisper's decoder."""
    config = path / "config.json"
    if not (path / "model.bin").is_file() or not config.is_file():
        return False
    try:
        return "suppress_ids" in config.read_text(encoding="utf-8", errors="replace") or \
            path.name.startswith(("whisper", "faster-whisper"))
    except OSError:
        return False


def find_whisper_model(explicit: Path | None, models_root: Path) -> FoundWhisper | None:
    """--model (when it is a Whisper folder), else $TRUST_COACH_MODEL (likewise), else a
    whisper* folder in the models directory, else the installed model wheels."""
    from voice.whisper_model import wheels_installed

    for candidate, source in ((explicit, "--model"), (_env_model(), f"${MODEL_ENV}")):
        if candidate is not None:
            return FoundWhisper(candidate, source) if looks_like_whisper_model(candidate) \
                else None  # a Vosk folder, say: that engine's to judge
    if models_root.is_dir():
        for folder in sorted(p for p in models_root.iterdir() if p.name.startswith("whisper")):
            if looks_like_whisper_model(folder):
                return FoundWhisper(folder, f"in {models_root.name}/")
    if wheels_installed():
        return FoundWhisper(None, "the model wheels, loaded into memory: 'trust-coach models "
                            "install whisper-base' starts faster and uses less memory")
    return None


def _env_model() -> Path | None:
    env = os.environ.get(MODEL_ENV)
    return Path(env) if env else None


def installed_models(models_root: Path) -> list[Path]:
    if not models_root.is_dir():
        return []
    return sorted(p for p in models_root.iterdir()
                  if looks_like_vosk_model(p) or looks_like_whisper_model(p))


# --- the catalog -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    name: str
    engine: str
    language: str
    url: str
    size_mb: float
    description: str
    sha256: str | None = None


def load_catalog(path: Path) -> dict[str, CatalogEntry]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ModelError(path, "model catalog not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ModelError(path, f"model catalog is not valid TOML: {error}") from None
    entries: dict[str, CatalogEntry] = {}
    for index, raw in enumerate(data.get("model", [])):
        where = f"model #{index + 1}"
        try:
            entry = CatalogEntry(
                name=str(raw["name"]), engine=str(raw["engine"]), language=str(raw["language"]),
                url=str(raw["url"]), size_mb=float(raw["size_mb"]),
                description=str(raw["description"]), sha256=raw.get("sha256"))
        except KeyError as missing:
            raise ModelError(path, f"{where}: missing field {missing}") from None
        except (TypeError, ValueError) as error:
            raise ModelError(path, f"{where}: {error}") from None
        if entry.name in entries:
            raise ModelError(path, f"{where}: duplicate name {entry.name!r}")
        entries[entry.name] = entry
    return entries


# --- downloading (explicit command only) -----------------------------------------------------

ProgressFn = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class DownloadedModel:
    path: Path
    sha256: str


def download_model(entry: CatalogEntry, models_root: Path, *, force: bool = False,
                   progress: ProgressFn | None = None, timeout: float = 30.0) -> DownloadedModel:
    """Fetch a catalog model's zip, verify it, unpack it into `models_root/NAME`.

    Work happens in hidden staging paths inside `models_root`, so a failure half-way never
    leaves something that looks like a model; the final rename is atomic.
    """
    target = models_root / entry.name
    if target.exists() and not force:
        raise DownloadError(f"{target}: already exists (use --force to replace it)")
    models_root.mkdir(parents=True, exist_ok=True)
    archive = models_root / f".{entry.name}.zip.part"
    staging = models_root / f".{entry.name}.unpacking"
    try:
        digest = _fetch(entry.url, archive, progress, timeout)
        if entry.sha256 and digest != entry.sha256.lower():
            raise DownloadError(f"{entry.url}: checksum mismatch (expected {entry.sha256}, "
                                f"got {digest}); the file was discarded")
        root = _unpack(archive, staging, entry.url)
        if problem := vosk_model_problem(root):
            raise DownloadError(f"{entry.url}: the archive is not a usable model: {problem}")
        if target.exists():
            shutil.rmtree(target)
        root.rename(target)
        return DownloadedModel(target, digest)
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def _fetch(url: str, dest: Path, progress: ProgressFn | None, timeout: float) -> str:
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, dest.open("wb") as out:
            total = response.headers.get("Content-Length")
            expected = int(total) if total else None
            received = 0
            while block := response.read(1 << 20):
                out.write(block)
                digest.update(block)
                received += len(block)
                if progress:
                    progress(received, expected)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: server answered {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"{url}: cannot connect ({error.reason})") from None
    except (TimeoutError, ConnectionError, OSError) as error:
        raise DownloadError(f"{url}: download failed ({error})") from None
    if expected is not None and received != expected:
        raise DownloadError(f"{url}: download cut short ({received} of {expected} bytes)")
    return digest.hexdigest()


def _unpack(archive: Path, staging: Path, url: str) -> Path:
    """Extract safely and return the model root (the archive's single top folder, if any)."""
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                resolved = (staging / member).resolve()
                if not resolved.is_relative_to(staging.resolve()):
                    raise DownloadError(f"{url}: archive entry {member!r} escapes the folder")
            zf.extractall(staging)
    except zipfile.BadZipFile:
        raise DownloadError(f"{url}: not a zip archive") from None
    children = [p for p in staging.iterdir() if not p.name.startswith(".")]
    if len(children) == 1 and children[0].is_dir():
        return children[0]
    return staging
