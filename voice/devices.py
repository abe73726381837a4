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
NO_SPEAKER_HINT = ("no speaker found; plug one in, pick one with --output-device N, use --output "
                   "FILE.wav, or --text-only")


def _at_rate(chunk: AudioChunk, rate: int) -> AudioChunk:
    from voice.audio import AudioFormat
    from voice.convert import convert_all

    return convert_all([chunk], AudioFormat(rate, 2, chunk.channels))


def _sounddevice():
    try:
        import sounddevice
    except OSError as error:  # PortAudio library missing
        raise DeviceError(f"audio system unavailable: {error} (install libportaudio2)") from None
    return sounddevice


class _AudioSystem:
    """PortAudio lists the devices once, when it starts: a microphone or speaker plugged in
    again is only found after it is started anew. That must not happen under an open stream:
    playing holds the lock; a microphone that is capturing does the restart itself when asked,
    between two of its blocks, and carries on without a word."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.restarted = threading.Condition(self.lock)
        self.restarts = 0
        self.capturing = 0
        self.restart_wanted = threading.Event()

    def rescan(self, sd, wait: float = 2.0) -> None:
        with self.lock:
            if self.capturing == 0:
                self.restart(sd)
                return
            before = self.restarts
            self.restart_wanted.set()
            self.restarted.wait_for(lambda: self.restarts > before, timeout=wait)

    def restart(self, sd) -> None:
        """Called with the lock held and no stream open."""
        try:
            sd._terminate()  # sounddevice's way to list devices anew
            sd._initialize()
        except sd.PortAudioError as error:
            raise DeviceError(f"cannot restart the audio system: {error}") from None
        finally:
            self.restarts += 1
            self.restart_wanted.clear()
            self.restarted.notify_all()


_AUDIO = _AudioSystem()


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


def input_device(device: int | str | None) -> DeviceInfo:
    """Resolve the microphone to use, or say in one line that there is none."""
    return _device(device, "input", NO_MIC_HINT)


def output_device(device: int | str | None) -> DeviceInfo:
    """Resolve the speaker to use, or say in one line that there is none."""
    return _device(device, "output", NO_SPEAKER_HINT)


def _device(device: int | str | None, kind: str, none_hint: str) -> DeviceInfo:
    sd = _sounddevice()
    try:
        info = sd.query_devices(device, kind=kind)
    except (sd.PortAudioError, ValueError):
        if device is None:
            raise DeviceError(none_hint) from None
        raise DeviceError(f"{kind} device {device!r} not found; see 'trust-coach devices'"
                          ) from None
    if info[f"max_{kind}_channels"] < 1:
        raise DeviceError(f"device {device!r} ({info['name']}) has no {kind} channels")
    index = info.get("index", device if isinstance(device, int) else -1)
    return DeviceInfo(index, info["name"], info["max_input_channels"],
                      info["max_output_channels"], float(info["default_samplerate"]),
                      kind == "input", kind == "output")


class MicrophoneSource:
    """A live microphone: a PortAudio input stream whose callback hands chunks on.

    `run` streams until stopped, or raises DeviceError when the device goes away; the caller
    (voice.resilience.ResilientSource) tries again until it is back.
    """

    live = True

    def __init__(self, device: int | str | None = None, rate: int | None = None,
                 block_seconds: float = 0.05) -> None:
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
        self._frames = 0  # written and read only by PortAudio's callback thread
        self._opened = 0  # how often `run` was called: after the first, it is a retry

    def describe(self) -> str:
        return f"microphone {self.info.name!r} at {self.rate} Hz"

    def run(self, emit: Callable[[AudioChunk], None], report: Callable[[Exception], None],
            stop: threading.Event) -> None:
        sd = _sounddevice()
        self._opened += 1
        if self._opened > 1:  # it was lost: look for it again, as if plugged in anew
            _AUDIO.rescan(sd)
            input_device(self.device)  # DeviceError while it is still gone
        try:
            self._stream_until_stopped(sd, emit, stop)
        except (sd.PortAudioError, ValueError) as error:
            raise DeviceError(f"microphone {self.info.name!r}: {error}") from None

    def _stream_until_stopped(self, sd, emit, stop: threading.Event) -> None:
        def callback(indata, frames, _time, status) -> None:
            if status.input_overflow:
                log.warning("microphone overflow: audio was dropped")
            chunk = AudioChunk(bytes(indata), self.rate, 2, 1, self._frames / self.rate)
            self._frames += frames
            emit(chunk)

        while not stop.is_set():
            broken = threading.Event()
            with _AUDIO.lock:
                if _AUDIO.restart_wanted.is_set():
                    _AUDIO.restart(sd)  # the speaker is looking for its device
                stream = sd.RawInputStream(samplerate=self.rate, channels=1, dtype="int16",
                                           blocksize=self.block_frames, device=self.device,
                                           callback=callback, finished_callback=broken.set)
                stream.start()
                _AUDIO.capturing += 1
            try:
                while not stop.is_set() and not _AUDIO.restart_wanted.is_set():
                    if broken.wait(0.1):
                        raise DeviceError("the input stream stopped")
            finally:
                with _AUDIO.lock:
                    _AUDIO.capturing -= 1
                    stream.close(ignore_errors=True)


class SpeakerSink:
    """Plays audio on an output device and blocks until it has been heard."""

    audible = True

    def __init__(self, device: int | str | None = None) -> None:
        self.info = output_device(device)  # fails early, with the one-line hint
        self.device = device
        self._native: set[int] = set()  # rates the device refused: played at its own rate
        self._failed = False  # the last play failed: look for the device again first

    def play(self, chunk: AudioChunk) -> None:
        sd = _sounddevice()
        if self._failed:
            _AUDIO.rescan(sd)
            output_device(self.device)  # DeviceError while it is still gone
        if chunk.rate in self._native:
            chunk = _at_rate(chunk, round(self.info.default_rate))
        try:
            # Closing the stream waits until everything written has been played.
            with _AUDIO.lock, sd.RawOutputStream(samplerate=chunk.rate, channels=chunk.channels,
                                                dtype=f"int{8 * chunk.width}",
                                                device=self.device) as stream:
                stream.write(chunk.samples)
            self._failed = False
        except (sd.PortAudioError, ValueError) as error:
            if "sample rate" in str(error).lower() and chunk.rate not in self._native \
                    and chunk.rate != round(self.info.default_rate):
                # Many USB speakers play only 44.1 or 48 kHz: resample to the device's own.
                log.info("speaker refuses %d Hz; playing at its own %d Hz", chunk.rate,
                         round(self.info.default_rate))
                self._native.add(chunk.rate)
                self.play(chunk)
                return
            self._failed = True
            raise DeviceError(f"speaker {self.device or 'default'}: {error}") from None

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        pass
