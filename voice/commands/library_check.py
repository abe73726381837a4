"""`trust-coach library check`: validate the content files."""

from __future__ import annotations

from common.errors import EXIT_OK
from voice import wiring
from voice.settings import Settings


def run(settings: Settings) -> int:
    content = wiring.library(settings)
    examples = sum(len(e.examples) for e in content.intents.values())
    folder = content.files[0].parent if content.files else settings.library_dir
    print(f"ok: {len(content.intents)} intents, {examples} example phrases, "
          f"{len(content.regions)} regions, {len(content.files)} files in {folder}")
    return EXIT_OK
