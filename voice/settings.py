"""All run-time settings in one frozen dataclass. Only `voice.__main__` builds it, from the
settings file (optional) and then the command line, which wins."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from intents.library import DEFAULT_LIBRARY
from intents.matcher import DEFAULT_THRESHOLD
from voice.endpoint import EndpointSettings
from voice.errors import SettingsFileError
from voice.models import default_models_root
from voice.paths import state_dir
from voice.tts import DEFAULT_RATE


@dataclass(frozen=True, slots=True)
class Settings:
    # speech to text
    engine: str = "auto"
    model: Path | None = None
    models_root: Path = field(default_factory=default_models_root)
    grammar: bool = True  # restrict Vosk to the library's words (lookahead models only)
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
    voice: str | None = None
    speech_rate: int = DEFAULT_RATE
    # understanding and content
    library_dir: Path = DEFAULT_LIBRARY
    threshold: float = DEFAULT_THRESHOLD
    region: str = "US"
    # breathing
    count_aloud: bool = False
    tone: bool = False
    # state and privacy
    state_dir: Path = field(default_factory=state_dir)
    keep_audio_dir: Path | None = None  # off unless the person turns it on


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
}
ENGINES = ("auto", "vosk", "pocketsphinx")


def settings_file() -> Path:
    """$TRUST_COACH_SETTINGS, else settings.toml in the XDG config directory."""
    if env := os.environ.get("TRUST_COACH_SETTINGS"):
        return Path(env)
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "trust-coach" / "settings.toml"


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
    if "model" in values:
        values["model"] = Path(str(values["model"])).expanduser()
    return values


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "a whole number", str: "text"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names[k] for k in kinds)
