"""The hardware seam: microphones and speakers through sounddevice (PortAudio).

Only this module imports sounddevice. Everything else takes an `AudioSource` or an `AudioSink`,
so tests and machines without a sound card use WAV files in their place. The real path is still
exercised in tests through an ALSA "file" device, which PortAudio treats as a real card.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.errors import DeviceError
from voice.audio import AudioChunk

log = logging.getLogger(__name__)

NO_MIC_HINT = "no microphone found; plug one in, pick one with --device N, or use --input FILE.wav"


def _sounddevice():
    try:
        import sounddevice
    except OSError as error:  # PortAudio library missing
        raise DeviceError(f"audio system unavailable: {error} (install libportaudio2)") from None
    return sounddevice


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float
    is_default_input: bool
    is_default_output: bool


def list_devices() -> list[DeviceInfo]:
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in, default_out = sd.default.device
    except sd.PortAudioError as error:
        raise DeviceError(f"cannot list audio devices: {error}") from None
    return [
        DeviceInfo(i, d["name"], d["max_input_channels"], d["max_output_channels"],
                   float(d["default_samplerate"]), i == default_in, i == default_out)
        for i, d in enumerate(devices)
    ]


def parse_device(value: str | None) -> int | str | None:
    """--device takes an index or a (part of a) name."""
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def input_device(device: int | str | None) -> DeviceInfo:
    """Resolve the microphone to use, or say in one line that there is none."""
    sd = _sounddevice()
    try:
        info = sd.query_devices(device, kind="input")
    except (sd.PortAudioError, ValueError):
        if device is None:
            raise DeviceError(NO_MIC_HINT) from None
        raise DeviceError(f"input device {device!r} not found; see 'trust-coach devices'") from None
    if info["max_input_channels"] < 1:
        raise DeviceError(f"device {device!r} ({info['name']}) has no input channels")
    index = info.get("index", device if isinstance(device, int) else -1)
    return DeviceInfo(index, info["name"], info["max_input_channels"],
                      info["max_output_channels"], float(info["default_samplerate"]), True, False)


class MicrophoneSource:
    """A live microphone: a PortAudio input stream whose callback hands chunks on.

    If the device disappears mid-session, the error is reported once and the stream is reopened
    every `retry_seconds` until it comes back or the loop stops.
    """

    live = True

    def __init__(self, device: int | str | None = None, rate: int | None = None,
                 block_seconds: float = 0.05, retry_seconds: float = 2.0) -> None:
        self.info = input_device(device)  # fails early, with the one-line hint
        self.device = device
        self.rate = int(rate or self.info.default_rate)
        self.block_frames = max(1, round(block_seconds * self.rate))
        sd = _sounddevice()
        try:  # a setting the device refuses is bad input now, not a retry loop later
            sd.check_input_settings(device=device, channels=1, dtype="int16",
                                    samplerate=self.rate)
        except (sd.PortAudioError, ValueError) as error:
            raise DeviceError(f"microphone {self.info.name!r} refuses {self.rate} Hz mono "
                              f"16-bit: {error}") from None
        self.retry_seconds = retry_seconds
        self._frames = 0  # written and read only by PortAudio's callback thread

    def describe(self) -> str:
        return f"microphone {self.info.name!r} at {self.rate} Hz"

    def run(self, emit: Callable[[AudioChunk], None], report: Callable[[Exception], None],
            stop: threading.Event) -> None:
        sd = _sounddevice()
        failed = False
        while not stop.is_set():
            try:
                self._stream_until_stopped(sd, emit, stop)
                return
            except (sd.PortAudioError, DeviceError) as error:
                if not failed:
                    report(DeviceError(f"microphone {self.info.name!r} failed: {error}; "
                                       f"retrying every {self.retry_seconds:g} s"))
                failed = True
                stop.wait(self.retry_seconds)

    def _stream_until_stopped(self, sd, emit, stop: threading.Event) -> None:
        broken = threading.Event()

        def callback(indata, frames, _time, status) -> None:
            if status.input_overflow:
                log.warning("microphone overflow: audio was dropped")
            chunk = AudioChunk(bytes(indata), self.rate, 2, 1, self._frames / self.rate)
            self._frames += frames
            emit(chunk)

        with sd.RawInputStream(samplerate=self.rate, channels=1, dtype="int16",
                               blocksize=self.block_frames, device=self.device,
                               callback=callback, finished_callback=broken.set):
            while not stop.is_set():
                if broken.wait(0.1):
                    raise DeviceError("the input stream stopped")


class SpeakerSink:
    """Plays audio on an output device and blocks until it has been heard."""

    audible = True

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device

    def play(self, chunk: AudioChunk) -> None:
        sd = _sounddevice()
        try:
            # Closing the stream waits until everything written has been played.
            with sd.RawOutputStream(samplerate=chunk.rate, channels=chunk.channels,
                                    dtype=f"int{8 * chunk.width}", device=self.device) as stream:
                stream.write(chunk.samples)
        except (sd.PortAudioError, ValueError) as error:
            raise DeviceError(f"speaker {self.device or 'default'}: {error}") from None

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        pass
