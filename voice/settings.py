"""All run-time settings in one frozen dataclass, built in one place (`settings_from`): the
settings file (optional) first, then the command line, which wins.

Light on purpose: only the standard library, so commands that need no speech stack stay fast.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.dirs import config_dir, data_dir, state_dir
from common.errors import SettingsFileError, UsageError

DEFAULT_RATE = 165  # words per minute; espeak's 200 is brisk for someone who is upset
MIN_RATE, MAX_RATE = 90, 260
ENGINES = ("auto", "whisper", "vosk", "pocketsphinx")
PROJECT_MODELS = Path(__file__).resolve().parent.parent / "models"
MODELS_ENV = "TRUST_COACH_MODELS"
SETTINGS_ENV = "TRUST_COACH_SETTINGS"


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    trailing_silence: float = 0.6  # seconds of quiet that end an utterance
    max_utterance: float = 12.0  # seconds; a hard stop
    min_speech: float = 0.1  # seconds of loud frames needed to start
    pre_roll: float = 0.3  # seconds kept from before the start
    start_margin_db: float = 9.0  # above the noise floor to start
    continue_margin_db: float = 6.0  # above the noise floor to count as still speaking
    quietest_db: float = -62.0  # the floor never goes below this (digital silence)
    floor_window: float = 3.0  # seconds of history for the noise floor
    floor_percentile: float = 10.0


def default_models_root() -> Path:
    """The project's `models/` in a checkout; otherwise the per-user data directory."""
    if env := os.environ.get(MODELS_ENV):
        return Path(env)
    if (PROJECT_MODELS / "catalog.toml").is_file():
        return PROJECT_MODELS
    return data_dir() / "models"


@dataclass(frozen=True, slots=True)
class Settings:
    # speech to text
    engine: str = "auto"
    model: Path | None = None
    models_root: Path = field(default_factory=default_models_root)
    grammar: bool = True  # restrict Vosk / PocketSphinx to the library's words
    # audio in
    input_path: Path | None = None  # a WAV file instead of the microphone
    realtime: bool = False  # stream --input at the speed of speech rather than at once
    device: int | str | None = None  # microphone
    mic_rate: int | None = None  # default: the device's own rate
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    deaf_tail: float = 0.3  # seconds of input ignored after we stop speaking
    denoise: bool = True  # suppress steady background noise before recognition
    # audio out
    output_path: Path | None = None  # write replies into a WAV file instead of playing them
    output_device: int | str | None = None
    text_only: bool = False
    voice: str | None = None  # a Piper or espeak-ng voice; None: Piper's when installed
    speech_rate: int = DEFAULT_RATE
    # understanding and content
    library_dir: Path | None = None  # None: the built-in library
    threshold: float | None = None  # None: the matcher's own
    region: str = "US"
    # breathing
    count_aloud: bool = False
    tone: bool = False
    # hands-free: a wake phrase before each request (None: the microphone's default, on;
    # off for a recording given with --input), and how long a follow-up needs none
    wake: bool | None = None
    wake_phrase: str = "hey coach"
    follow_up: float = 8.0
    # the breathing page (--web): only this machine unless the person sets another address
    web_host: str = "127.0.0.1"
    web_port: int = 8787
    # state and privacy
    state_dir: Path = field(default_factory=state_dir)
    keep_audio_dir: Path | None = None  # off unless the person turns it on
    # where the settings file was, and which settings came from it (for errors that name it)
    settings_path: Path | None = None
    from_file: frozenset[str] = frozenset()


# What a person may set once in settings.toml, instead of on every command line: the key in
# the file, the Settings field, and the type it must have.
FILE_SETTINGS: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "region": ("region", str),
    "engine": ("engine", str),
    "model": ("model", str),
    "grammar": ("grammar", bool),
    "denoise": ("denoise", bool),
    "device": ("device", (int, str)),
    "output_device": ("output_device", (int, str)),
    "voice": ("voice", str),
    "rate": ("speech_rate", int),
    "tone": ("tone", bool),
    "count": ("count_aloud", bool),
    "wake": ("wake", bool),
    "wake_phrase": ("wake_phrase", str),
    "follow_up": ("follow_up", (int, float)),
    "web_host": ("web_host", str),
    "web_port": ("web_port", int),
}

# Command-line options that map straight onto a Settings field.
_ARGUMENTS = {"engine": "engine", "model": "model", "grammar": "grammar", "denoise": "denoise",
              "input": "input_path", "realtime": "realtime", "output": "output_path",
              "text_only": "text_only", "voice": "voice", "rate": "speech_rate",
              "region": "region", "library": "library_dir", "threshold": "threshold",
              "mic_rate": "mic_rate", "keep_audio": "keep_audio_dir", "tone": "tone",
              "count": "count_aloud", "web_port": "web_port"}


MAX_FOLLOW_UP = 60
WAKE_PHRASE = re.compile(r"[a-z']+( [a-z']+){1,3}")


def settings_file() -> Path:
    """$TRUST_COACH_SETTINGS, else settings.toml in the XDG config directory."""
    if env := os.environ.get(SETTINGS_ENV):
        return Path(env)
    return config_dir() / "settings.toml"


def parse_device(value: str | None) -> int | str | None:
    """--device takes an index or a (part of a) name."""
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def settings_from(args: argparse.Namespace) -> Settings:
    """The only place where settings are made: the settings file, then the command line."""
    path = settings_file()
    if os.environ.get(SETTINGS_ENV) and not path.exists():
        raise SettingsFileError(path, f"not found (named by ${SETTINGS_ENV}); create it, or "
                                "unset the variable")
    values = read_settings_file(path)
    from_file = frozenset(values)
    for name in ("device", "output_device"):
        if name in values:
            values[name] = parse_device(str(values[name]))
    for arg, name in _ARGUMENTS.items():
        if (value := getattr(args, arg, None)) is not None:
            values[name] = value
    for name in ("device", "output_device"):
        if getattr(args, name, None) is not None:
            values[name] = parse_device(getattr(args, name))
    if hasattr(args, "trailing_silence"):
        if not 0.1 <= args.trailing_silence <= 5.0:
            raise UsageError("--trailing-silence must be between 0.1 and 5 seconds")
        if not 1.0 <= args.max_utterance <= 60.0:
            raise UsageError("--max-utterance must be between 1 and 60 seconds")
        values["endpoint"] = EndpointSettings(trailing_silence=args.trailing_silence,
                                              max_utterance=args.max_utterance)
    if getattr(args, "wake", None) is not None:
        values["wake"] = args.wake == "on"
    if "region" in values:
        values["region"] = str(values["region"]).upper()
    if "speech_rate" in values and "speech_rate" not in from_file:
        _check_rate(values["speech_rate"], lambda problem: UsageError(f"--rate {problem}"))
    if getattr(args, "web_port", None) is not None and not 1024 <= args.web_port <= 65535:
        raise UsageError(f"--web-port must be between 1024 and 65535, not {args.web_port}")
    heard, spoken = values.get("input_path"), values.get("output_path")
    if heard is not None and spoken is not None and \
            Path(heard).resolve() == Path(spoken).resolve():
        # Replies written over the recording being read: it would hear itself.
        raise UsageError(f"--input and --output are the same file ({heard}); the replies "
                         "would overwrite what is being listened to")
    from_file = frozenset(name for name in from_file
                          if getattr(args, _ARGUMENT_OF.get(name, name), None) is None)
    return replace(Settings(), **values, settings_path=path if path.exists() else None,
                   from_file=from_file)


_ARGUMENT_OF = {name: argument for argument, name in _ARGUMENTS.items()}


def _check_rate(rate: object, error) -> None:
    if not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise error(f"must be between {MIN_RATE} and {MAX_RATE} words per minute, not "
                    f"{rate!r}")


def read_settings_file(path: Path) -> dict[str, object]:
    """Settings fields from the file, checked; {} when there is no file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsFileError(path, f"cannot be read ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsFileError(path, f"is not valid TOML ({error})") from None
    values: dict[str, object] = {}
    for key, value in raw.items():
        if key not in FILE_SETTINGS:
            raise SettingsFileError(path, f"unknown setting {key!r}; known: "
                                    f"{', '.join(FILE_SETTINGS)}")
        name, kind = FILE_SETTINGS[key]
        # TOML booleans are not numbers here, whatever Python thinks of bool and int.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise SettingsFileError(path, f"setting {key!r} must be {_kind_name(kind)}, "
                                    f"not {value!r}")
        values[name] = value
    if values.get("engine", "auto") not in ENGINES:
        raise SettingsFileError(path, f"setting 'engine' must be one of {', '.join(ENGINES)}")
    if "speech_rate" in values:
        _check_rate(values["speech_rate"],
                    lambda problem: SettingsFileError(path, f"setting 'rate' {problem}"))
    if "model" in values:
        values["model"] = Path(str(values["model"])).expanduser()
    if not 0 <= values.get("follow_up", 0) <= MAX_FOLLOW_UP:
        raise SettingsFileError(path, f"setting 'follow_up' must be between 0 and "
                                f"{MAX_FOLLOW_UP} seconds, not {values['follow_up']!r}")
    if not 1024 <= values.get("web_port", 8787) <= 65535:
        raise SettingsFileError(path, "setting 'web_port' must be between 1024 and 65535, "
                                f"not {values['web_port']!r}")
    if "wake_phrase" in values and not WAKE_PHRASE.fullmatch(str(values["wake_phrase"])):
        raise SettingsFileError(path, "setting 'wake_phrase' must be two to four plain "
                                f"words, like \"hey coach\", not {values['wake_phrase']!r}")
    if "follow_up" in values:
        values["follow_up"] = float(values["follow_up"])
    return values


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "a whole number", str: "text", float: "a number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if kinds == (int, float):
        return "a number"
    return " or ".join(names[k] for k in kinds)
