"""`trust-coach models list|download`: the speech-model catalog, and the one command that uses
the network."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from common.errors import EXIT_OK, UsageError
from voice.settings import default_models_root


def run(action: str, name: str | None, catalog: Path | None, models_dir: Path | None,
        force: bool) -> int:
    from voice.models import default_catalog, installed_models, load_catalog

    root = models_dir or default_models_root()
    entries = load_catalog(catalog or default_catalog())
    if action == "list":
        installed = {p.name for p in installed_models(root)}
        for entry in entries.values():
            mark = "installed" if entry.name in installed else f"{entry.size_mb:g} MB"
            print(f"{entry.name:36} {entry.language:6} {mark:10} {entry.description}")
        for extra in sorted(installed - set(entries)):
            print(f"{extra:36} {'?':6} {'installed':10} (not in the catalog)")
        return EXIT_OK
    if not name:
        raise UsageError("models download: name a model (see: trust-coach models list)")
    if name not in entries:
        raise UsageError(f"models download: {name!r} is not in the catalog")
    return _download(entries[name], root, force)


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
