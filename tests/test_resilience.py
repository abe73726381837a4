"""Devices that go away mid-session and come back: reported once, tried again with growing
pauses, and the conversation resumes without a restart.

Through the audio seam, with a microphone and a speaker that fail on cue around real audio, the
real recogniser, library and voice; then once through the real sounddevice/PortAudio path with
ALSA's file device (see test_devices.py), whose backing file can be taken away and given back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import recording

from common.errors import DeviceError
from intents.coach import Coach
from intents.conversation import Conversation
from voice.audio import AudioChunk
from voice.loop import VoiceLoop
from voice.resilience import BACK_OFF, ResilientSink, ResilientSource, back_off
from voice.tts import EspeakSynthesizer, SilentSink, Speaker, WavFileSink
from voice.wav import iter_wav_chunks, read_speech_wav, read_wav_info


def _quiet(seconds: float, start: float) -> AudioChunk:
    noise = np.random.default_rng(3).normal(0, 30, int(seconds * 16_000)).astype("<i2")
    return AudioChunk(noise.tobytes(), 16_000, 2, 1, start)


class _MicrophoneUnpluggedBetween:
    """A microphone that delivers one recording, is unplugged (fails `gone_for` times when
    opened again), then comes back and delivers the next recording."""

    live = False

    def __init__(self, first, second, gone_for: int) -> None:
        self.parts = [first, second]
        self.gone_for = gone_for
        self.opened = 0

    def describe(self) -> str:
        return "a microphone unplugged on cue"

    def run(self, emit, report, stop: threading.Event) -> None:
        self.opened += 1
        if self.opened == 1:
            self._play(self.parts[0], 0.0, emit)
            raise DeviceError("[Errno -9999] Unanticipated host error")  # the cable is pulled
        if self.opened <= 1 + self.gone_for:
            raise DeviceError("no such device")
        self._play(self.parts[1], 60.0, emit)

    @staticmethod
    def _play(path, start: float, emit) -> None:
        for chunk in iter_wav_chunks(path, 0.05, read_wav_info(path)):
            emit(AudioChunk(chunk.samples, chunk.rate, chunk.width, chunk.channels,
                            start + chunk.timestamp))
        emit(_quiet(1.5, start + 30.0))


class _SpeakerLostFor:
    """A speaker that plays into a WAV sink, except for the `lost` plays, which fail."""

    audible = True

    def __init__(self, sink, lost: range) -> None:
        self.sink = sink
        self.lost = lost
        self.plays = 0

    def play(self, chunk: AudioChunk) -> None:
        self.plays += 1
        if self.plays in self.lost:
            raise DeviceError("Unanticipated host error [PaErrorCode -9999]")
        self.sink.play(chunk)

    def pause(self, seconds: float) -> None:
        self.sink.pause(seconds)

    def close(self) -> None:
        self.sink.close()


def _conversation(library, matcher):
    return Conversation(Coach(library, matcher))


def test_the_back_off_grows_and_then_holds():
    assert [back_off(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert tuple(sorted(BACK_OFF)) == BACK_OFF


def test_a_microphone_unplugged_mid_session_is_reported_once_and_the_talk_resumes(
        pocketsphinx_restricted, library, matcher):
    lines: list[str] = []
    notices: list[str] = []
    flaky = _MicrophoneUnpluggedBetween(recording("piper-joe--causes.wav"),
                                        recording("piper-joe--tips.wav"), gone_for=2)
    source = ResilientSource(flaky, notice=notices.append)
    loop = VoiceLoop(source, pocketsphinx_restricted, _conversation(library, matcher),
                     Speaker(None, SilentSink()), out=lines.append, report=lines.append)
    finished = threading.Event()
    thread = threading.Thread(target=lambda: (loop.run(), finished.set()), daemon=True)
    thread.start()
    assert finished.wait(60), "the loop did not carry on after the microphone came back"
    heard = [line.split("| intent: ")[1].split(" ")[0] for line in lines if "| intent: " in line]
    assert heard == ["causes", "tips"], lines
    lost = [line for line in lines if "microphone was lost" in line]
    assert lost == ["error: the microphone was lost ([Errno -9999] Unanticipated host error); "
                    "trying again until it is back"]
    assert notices == ["the microphone is back"]
    assert flaky.opened == 4  # the first session, two tries while gone, the one that worked


def test_a_microphone_that_never_comes_back_is_tried_until_the_session_is_stopped():
    tries: list[float] = []

    class _Gone:
        live = True

        def describe(self):
            return "gone"

        def run(self, emit, report, stop):
            tries.append(0.0)
            raise DeviceError("no such device")

    reports: list[Exception] = []
    stop = threading.Event()
    source = ResilientSource(_Gone(), notice=reports.append)
    thread = threading.Thread(target=source.run, args=(lambda c: None, reports.append, stop))
    thread.start()
    threading.Timer(2.0, stop.set).start()
    thread.join(5)
    assert not thread.is_alive()
    assert len(tries) == 3  # at 0, 0.5 and 1.5 s; the next would be at 3.5 s
    assert len(reports) == 1 and "trying again until it is back" in str(reports[0])


def test_a_speaker_lost_mid_session_is_reported_once_and_used_again_when_back(
        tmp_path, library, matcher):
    """Replies go on being printed while the speaker is gone; the next reply after it is back
    is heard again."""
    from conftest import local_executor

    from common.transcript import typed

    now = [0.0]
    notices: list[str] = []
    wav = WavFileSink(tmp_path / "out.wav")
    flaky = _SpeakerLostFor(wav, lost=range(2, 4))  # the 2nd and 3rd plays fail
    sink = ResilientSink(flaky, notice=notices.append, clock=lambda: now[0])
    lines: list[str] = []
    executor = local_executor(library, matcher, speaker=Speaker(EspeakSynthesizer(), sink),
                              out=lines.append)
    executor.hear(typed("hello"))  # 1st play works, the 2nd fails: lost, try again at 0.5 s
    plays_while_lost = flaky.plays
    executor.hear(typed("what causes trust issues"))  # before 0.5 s: not even tried
    assert flaky.plays == plays_while_lost == 2
    now[0] = 1.0
    executor.hear(typed("give me a tip"))  # tried once more, fails: next try at 2.0 s
    assert flaky.plays == 3
    now[0] = 5.0
    executor.hear(typed("how do I use I statements"))  # back
    executor.hear(typed("thank you"))
    sink.close()
    intents = [line.split("| intent: ")[1].split(" ")[0] for line in lines if "| intent: " in line]
    assert intents == ["greeting", "causes", "tips", "i_statements", "thanks"], lines
    assert notices[0].startswith("error: the speaker was lost (Unanticipated host error")
    assert notices[0].endswith("replies are printed until it is back")
    assert notices[1:] == ["the speaker is back"]
    assert flaky.plays > 5  # every sentence of the last two replies was played
    audio = read_speech_wav(tmp_path / "out.wav")
    assert audio.duration > 5  # the plays before and after the loss were written


# --- the real PortAudio path ------------------------------------------------------------------

_ASOUNDRC = """
pcm.testmic {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{mic}"
    format "raw"
}}
pcm.testspeaker {{
    type asym
    playback.pcm {{
        type file
        slave.pcm "null"
        file "{speaker}"
        format "raw"
    }}
}}
"""


def _in_own_process(home, script: str) -> subprocess.CompletedProcess:
    """PortAudio reads the ALSA configuration in HOME when it starts: a process of its own."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=90, env={**os.environ, "HOME": str(home)}, check=False)


@pytest.mark.hardware
def test_a_real_speaker_that_goes_away_and_comes_back(tmp_path):
    """ALSA's file device fails to play when the folder of its file is gone, as a device that
    was unplugged fails: PortAudio's own error, through sounddevice."""
    folder = tmp_path / "usb"
    folder.mkdir()
    played = folder / "speaker.raw"
    (tmp_path / ".asoundrc").write_text(_ASOUNDRC.format(mic="/dev/null", speaker=played))
    script = f"""
import shutil, time
from pathlib import Path
import numpy as np
from voice.audio import AudioChunk
from voice.devices import SpeakerSink
from voice.resilience import ResilientSink
tone = (np.sin(np.arange(4410) / 5) * 8000).astype("<i2").tobytes()
chunk = AudioChunk(tone, 22050, 2, 1)
sink = ResilientSink(SpeakerSink("testspeaker"), notice=lambda line: print("notice:", line))
folder = Path({str(folder)!r})
sink.play(chunk)
first = Path({str(played)!r}).read_bytes()
shutil.rmtree(folder)
sink.play(chunk)
sink.play(chunk)
print("lost:", sink.lost)
folder.mkdir()
time.sleep(0.6)
sink.play(chunk)
print("lost:", sink.lost, "first:", len(first))
"""
    result = _in_own_process(tmp_path, script)
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stdout.splitlines() if line.startswith("notice:")]
    assert len(notices) == 2, result.stdout
    assert notices[0].startswith("notice: error: the speaker was lost (")
    assert notices[1] == "notice: the speaker is back"
    assert "lost: True" in result.stdout and "lost: False first: 8820" in result.stdout
    assert played.stat().st_size == 8820  # the play after it came back


@pytest.mark.hardware
def test_a_real_microphone_that_goes_away_and_comes_back(tmp_path):
    """The microphone's backing file is taken away before the stream opens and given back a
    second later: PortAudio no longer lists it until it is scanned again, so coming back means
    scanning the devices anew (as a USB microphone plugged in again needs)."""
    mic = tmp_path / "mic.raw"
    mic.write_bytes((np.sin(np.arange(44_100 * 3) / 7) * 6000).astype("<i2").tobytes())
    saved = tmp_path / "saved.raw"
    saved.write_bytes(mic.read_bytes())
    (tmp_path / ".asoundrc").write_text(_ASOUNDRC.format(mic=mic, speaker="/dev/null"))
    script = f"""
import os, shutil, sys, threading
from voice.devices import MicrophoneSource
from voice.resilience import ResilientSource
source = ResilientSource(MicrophoneSource("testmic"), notice=lambda line: print("notice:", line))
os.remove({str(mic)!r})
threading.Timer(1.0, shutil.copy, args=({str(saved)!r}, {str(mic)!r})).start()
got = []
stop = threading.Event()
def emit(chunk):
    got.append(chunk)
    if sum(c.duration for c in got) > 1.0:
        stop.set()
source.run(emit, lambda error: print("report:", error), stop)
print("seconds:", round(sum(c.duration for c in got), 1), "rate:", got[0].rate)
"""
    result = _in_own_process(tmp_path, script)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    reports = [line for line in out if line.startswith("report:")]
    assert len(reports) == 1 and "the microphone was lost" in reports[0], result.stdout
    assert [line for line in out if line.startswith("notice:")] == \
        ["notice: the microphone is back"]
    # The file device delivers as fast as it is read: at least the second asked for came.
    _, seconds, _, rate = out[-1].split()
    assert float(seconds) > 1.0 and rate == "44100"


_HEAP_CHURN = """
from bench import rss_mb
from common.memory import give_back_freed_memory
before = rss_mb()
blocks = [bytes(8000) for _ in range(25_000)]  # from the C heap, as a model's buffers are
kept = blocks[::50]  # a few stay, so the freed memory is holes, not the heap's end
del blocks
held = rss_mb()
handed_back = give_back_freed_memory()
print(before, held, rss_mb(), handed_back)
"""


def test_memory_freed_after_a_piece_of_work_is_handed_back_to_the_system():
    """After each sentence (Piper) and each turn (the loop) the freed working memory goes
    back: glibc would otherwise keep it, and the program grow over a day."""
    out = subprocess.run([sys.executable, "-c", _HEAP_CHURN], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    before, held, after, handed_back = out.stdout.split()
    assert handed_back == "True"
    assert float(held) - float(before) > 150  # glibc kept the freed holes
    assert float(after) - float(before) < 30, out.stdout


_THREAD_HEAP = """
import ctypes, sys, threading
from common.memory import share_one_heap
shared = sys.argv[1] == "shared" and share_one_heap()
held = []
worker = threading.Thread(target=lambda: held.extend(bytes(8000) for _ in range(5_000)))
worker.start()
worker.join()
ctypes.CDLL(None).malloc_stats()  # each heap ("Arena N") and what it holds, on stderr
print(shared)
"""


def test_threads_share_the_one_heap_that_can_be_handed_back():
    """A reply is made on a thread of its own. glibc gives a new thread a heap of its own,
    whose free top malloc_trim leaves in place: the Piper voice made on a thread per reply
    held 40-60 MB more, wandering (bench/README.md, A long day)."""
    root = os.path.dirname(os.path.dirname(__file__))
    heaps = {}
    for mode in ("shared", "default"):
        out = subprocess.run([sys.executable, "-c", _THREAD_HEAP, mode], capture_output=True,
                             text=True, check=True, cwd=root)
        heaps[mode] = [line for line in out.stderr.splitlines() if line.startswith("Arena ")]
        assert out.stdout.strip() == str(mode == "shared")
    assert heaps["shared"] == ["Arena 0:"]
    assert len(heaps["default"]) > 1  # what the program would do without it


def test_the_program_shares_the_one_heap_from_its_first_line(tmp_path):
    """`trust-coach say` makes its sentences on a worker thread: that worker allocated from
    the main heap (the only heap glibc reports)."""
    run = ("import ctypes, sys; from voice.__main__ import main; code = main(sys.argv[1:]); "
           "ctypes.CDLL(None).malloc_stats(); sys.exit(code)")
    out = subprocess.run([sys.executable, "-c", run, "say", "one heap for every thread",
                          "--voice", "en-us", "--output", str(tmp_path / "said.wav")],
                         capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert (tmp_path / "said.wav").stat().st_size > 10_000
    assert [line for line in out.stderr.splitlines() if line.startswith("Arena ")] == \
        ["Arena 0:"], out.stderr
