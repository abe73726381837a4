"""Shared test fixtures: real components only (the real library, real engines, real audio)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AUDIO = ROOT / "tests" / "fixtures" / "audio"
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="session", autouse=True)
def private_dirs(tmp_path_factory):
    """Caches and state go to temporary folders, never the developer's home."""
    base = tmp_path_factory.mktemp("xdg")
    saved = {k: os.environ.get(k) for k in ("XDG_CACHE_HOME", "XDG_STATE_HOME",
                                            "XDG_CONFIG_HOME")}
    os.environ["XDG_CACHE_HOME"] = str(base / "cache")
    os.environ["XDG_STATE_HOME"] = str(base / "state")
    os.environ["XDG_CONFIG_HOME"] = str(base / "config")  # no settings file unless written
    yield base
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@dataclass(frozen=True)
class Recording:
    path: Path
    voice: str
    condition: str
    text: str
    expected: tuple[str, ...]


def recordings() -> list[Recording]:
    with (AUDIO / "manifest.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [Recording(AUDIO / r["file"], r["voice"], r["condition"], r["text"],
                      tuple(r["expected"].split("|"))) for r in rows]


def recording(name: str) -> Path:
    path = AUDIO / name
    assert path.is_file(), f"missing fixture {path}"
    return path


@pytest.fixture(scope="session")
def library():
    from intents.library import load_library

    return load_library()


@pytest.fixture(scope="session")
def matcher(library):
    from intents.matcher import IntentMatcher

    return IntentMatcher(library)


@pytest.fixture(scope="session")
def pocketsphinx_restricted(library):
    """The default engine as `make run` uses it: PocketSphinx with the library's model."""
    from intents.grammar import recognition_sentences
    from voice.stt import EngineChoice, load_engine

    return load_engine(EngineChoice("pocketsphinx", None, "test"),
                       restrict_to=recognition_sentences(library))


@pytest.fixture(scope="module")
def two_pass(library):
    """The default engine: Whisper, with the restricted PocketSphinx streaming beside it
    (loaded per module, not held all session: the benchmark test measures its own peak)."""
    from intents.grammar import recognition_sentences
    from voice.stt import EngineChoice, load_engine

    return load_engine(EngineChoice("whisper", None, "test"),
                       restrict_to=recognition_sentences(library))


@pytest.fixture(scope="session")
def pocketsphinx_full():
    from voice.pocketsphinx_engine import PocketSphinxEngine

    return PocketSphinxEngine()


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real program, as a person runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "voice", *args], capture_output=True, check=False,
                          text=True, timeout=timeout, env=full_env, cwd=ROOT, input=stdin)


def decode(engine, chunks):
    """One utterance straight through an engine's session: for testing an engine alone. (The
    product hears through voice.listening, which tests of the loop and the CLI exercise.)"""
    session = engine.start()
    for chunk in chunks:
        session.accept(chunk)
    return session.finish()


def local_executor(library, matcher, *, timers=None, speaker=None, clock=None, out=None,
                   report=None, ears=None, tone=False, count_aloud=False, region="US"):
    """The conversation carried out as the voice loop and chat carry it out, with the real
    library and matcher; silent and on a virtual clock unless told otherwise."""
    from intents.coach import Coach
    from intents.conversation import Conversation
    from voice.clock import VirtualClock
    from voice.executor import LocalExecutor
    from voice.tts import SilentSink, Speaker

    running = None if timers is None else (lambda: timers.active is not None)
    conversation = Conversation(Coach(library, matcher, region, timer_running=running))
    out = out or (lambda line: None)
    return LocalExecutor(conversation, speaker or Speaker(None, SilentSink()),
                         clock or VirtualClock(), out=out, report=report or out, timers=timers,
                         ears=ears, tone=tone, count_aloud=count_aloud)


def breathe_along(executor, clock, said: list[tuple[float, str]] = ()) -> None:
    """Drive an exercise as the front ends do: tick at each due time, and hand over what the
    person says at its moment, until the exercise ends."""
    from common.transcript import typed

    said = list(said)
    while executor.exercise_running:
        due = executor.next_due()
        if said and said[0][0] <= due:
            at, text = said.pop(0)
            clock.sleep_until(at)
            executor.hear(typed(text))
        else:
            clock.sleep_until(due)
        executor.tick(clock.now())


def joined_recording(path: Path, *pieces: str | float, seed: int = 7) -> str:
    """One recording made of fixture recordings (by name) and pauses (seconds of a quiet
    room), as a session would be heard."""
    import numpy as np

    from voice.audio import AudioChunk
    from voice.wav import read_speech_wav, write_wav

    rng = np.random.default_rng(seed)
    parts = []
    for piece in pieces:
        if isinstance(piece, float):
            parts.append(rng.normal(0, 30, int(piece * 16_000)).astype("<i2").tobytes())
        else:
            parts.append(read_speech_wav(recording(piece)).samples)
    write_wav(path, AudioChunk(b"".join(parts), 16_000, 2, 1))
    return str(path)
