"""All run-time settings in one frozen dataclass. Only `voice.__main__` builds it from argv."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from intents.library import DEFAULT_LIBRARY
from intents.matcher import DEFAULT_THRESHOLD
from voice.endpoint import EndpointSettings
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
