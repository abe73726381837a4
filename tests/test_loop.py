"""The listening loop itself, with real sources, engines and speech output."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import local_executor, recording

from common.transcript import Transcript, typed
from intents.coach import Coach
from intents.conversation import Conversation
from voice.audio import AudioChunk
from voice.convert import convert_all, pcm16
from voice.listening import WavFileSource
from voice.loop import VoiceLoop
from voice.tts import EspeakSynthesizer, SilentSink, Speaker, WavFileSink
from voice.wav import read_speech_wav, write_wav


def _join(tmp_path, name, *pieces: AudioChunk | float) -> str:
    """A recording made of chunks and pauses (seconds of quiet room)."""
    rng = np.random.default_rng(1)
    parts = []
    for piece in pieces:
        if isinstance(piece, float):
            noise = rng.normal(0, 30, int(piece * 16_000)).astype("<i2")
            parts.append(noise.tobytes())
        else:
            parts.append(piece.samples)
    path = tmp_path / name
    write_wav(path, AudioChunk(b"".join(parts), 16_000, 2, 1))
    return path


def _loop(source, engine, library, matcher, speaker, *, lines, **options):
    return VoiceLoop(source, engine, Conversation(Coach(library, matcher)), speaker,
                     out=lines.append, report=lines.append, **options)


def _run(source, engine, library, matcher, sink, **options):
    lines: list[str] = []
    speaker = Speaker(EspeakSynthesizer() if not isinstance(sink, SilentSink) else None, sink)
    _loop(source, engine, library, matcher, speaker, lines=lines, **options).run()
    sink.close()
    return [line for line in lines if line.startswith("heard:")]


@pytest.mark.slow
def test_it_never_answers_its_own_voice(tmp_path, pocketsphinx_restricted, library, matcher):
    """A live source and a speaker in the room: the reply comes back into the microphone
    (here, recorded into the input at the moment it is spoken) and must be ignored."""
    causes = read_speech_wav(recording("piper-joe--causes.wav"))
    reply = convert_all([EspeakSynthesizer().synthesize(library.entry("causes").reply)])
    assert reply.duration > 10
    # Four seconds of the reply reach the microphone while it is being played (which starts
    # about a second after the question ends: trailing silence, then recognising and speaking).
    echo = AudioChunk(reply.samples[: 4 * 32_000], 16_000, 2, 1)
    tips = read_speech_wav(recording("piper-joe--tips.wav"))
    path = _join(tmp_path, "room.wav", causes, 1.5, echo, reply.duration - 2.0, tips, 1.0)
    turns = _run(WavFileSource(path, realtime=True), pocketsphinx_restricted, library, matcher,
                 WavFileSink(tmp_path / "out.wav", pace=True))
    assert [t.split("| intent: ")[1].split(" ")[0] for t in turns] == ["causes", "tips"], turns


def test_without_a_speaker_in_the_room_every_utterance_is_heard(tmp_path,
                                                               pocketsphinx_restricted,
                                                               library, matcher):
    causes = read_speech_wav(recording("piper-joe--causes.wav"))
    tips = read_speech_wav(recording("piper-joe--tips.wav"))
    path = _join(tmp_path, "two.wav", causes, 0.8, tips, 1.0)
    turns = _run(WavFileSource(path), pocketsphinx_restricted, library, matcher, SilentSink())
    assert [t.split("| intent: ")[1].split(" ")[0] for t in turns] == ["causes", "tips"]


def test_keep_audio_is_off_unless_asked(tmp_path, pocketsphinx_restricted, library, matcher):
    path = _join(tmp_path, "one.wav", read_speech_wav(recording("piper-joe--help.wav")), 1.0)
    _run(WavFileSource(path), pocketsphinx_restricted, library, matcher, SilentSink())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.wav"]  # nothing stored
    kept = tmp_path / "kept"
    _run(WavFileSource(path), pocketsphinx_restricted, library, matcher, SilentSink(),
         keep_audio_dir=kept)
    assert len(list(kept.glob("*.wav"))) == 1
    assert '"text":' in (kept / "transcripts.jsonl").read_text()


def test_the_edge_converts_any_source_rate(tmp_path, pocketsphinx_restricted, library, matcher):
    from voice.convert import Resampler

    speech = pcm16(read_speech_wav(recording("piper-joe--causes.wav"))).astype(np.float32)
    r = Resampler(16_000, 48_000)
    up = np.concatenate([r.process(speech / 32768), r.flush(), np.zeros(48_000)])
    path = tmp_path / "48k.wav"
    write_wav(path, AudioChunk(np.round(up * 32767).astype("<i2").tobytes(), 48_000, 2, 1))
    turns = _run(WavFileSource(path), pocketsphinx_restricted, library, matcher, SilentSink())
    assert "| intent: causes" in turns[0]


def test_when_speech_output_fails_the_reply_is_printed_and_the_talk_goes_on(library, matcher):
    from common.errors import DeviceError

    class UnpluggedSpeaker:
        """The hardware seam: a speaker that was pulled out (the real ALSA case is in
        test_resilience)."""

        audible = True

        def play(self, chunk):
            raise DeviceError("speaker no-such-speaker: it was unplugged")

        def pause(self, seconds):
            pass

    lines: list[str] = []
    errors: list[str] = []
    speaker = Speaker(EspeakSynthesizer(), UnpluggedSpeaker())
    executor = local_executor(library, matcher, speaker=speaker, out=lines.append,
                              report=errors.append)
    executor.hear(typed("what causes trust issues"))
    executor.hear(typed("give me a tip"))
    assert [line.split("| intent: ")[1].split(" ")[0] for line in lines] == ["causes", "tips"]
    assert len(errors) == 2 and all(e.startswith("error: speaker no-such-speaker") for e in errors)
    assert all("(reply printed instead)" in e for e in errors)


def test_speech_cut_short_by_our_own_voice_is_still_answered(pocketsphinx_restricted, library,
                                                            matcher, tmp_path):
    """Someone was still talking when the coach began to speak: what they had said is finished
    and answered, not thrown away with the echo (it might be a disclosure)."""
    from voice.listening import UtteranceListener
    from voice.wav import iter_wav_chunks

    path = _join(tmp_path, "talk.wav", read_speech_wav(recording("piper-joe--crisis-hit.wav")),
                 1.0)
    listener = UtteranceListener(pocketsphinx_restricted)
    heard = []
    chunks = list(iter_wav_chunks(path, 0.05))
    for chunk in chunks[:20]:  # the first second: "he hit me last night" is under way
        heard += listener.feed(chunk)
    assert listener.in_speech and heard == []
    for chunk in chunks[20:]:  # we start speaking now: the rest comes back as our own voice
        heard += listener.drop(chunk)
    assert len(heard) == 1 and heard[0].reason == "our own voice"
    assert matcher.understand(heard[0].transcript.text).id == "crisis", heard


def test_a_plain_stop_is_answered_and_starts_nothing(library, matcher):
    lines: list[str] = []
    executor = local_executor(library, matcher, out=lines.append)
    executor.hear(typed("stop"))
    assert "| intent: stop" in lines[-1]
    assert not executor.exercise_running and not executor.finished


class Room:
    """A quiet room with a microphone (this source) and a speaker in it (`RoomSpeaker`):
    whatever the speaker plays reaches the microphone while it plays, on one real-time line.

    `answer` is what the person says, and when: how many seconds after the coach's
    how-manieth breathing cue has ended (the exercise tells the room when a cue starts)."""

    live = True
    rate = 16_000

    def __init__(self, opening: AudioChunk, answer: tuple[int, float, AudioChunk],
                 seconds: float) -> None:
        self.track = np.random.default_rng(3).normal(0, 30, int(seconds * self.rate))
        self.mix(0.5, opening)
        self.answer = answer
        self.played: list[tuple[float, float]] = []  # (start, end) of each sound, room time
        self.cues = 0  # breathing cues started so far
        self.started: float | None = None  # when the microphone was opened
        self.leave_at = seconds  # the recording ends a little after the coach's answer

    def on_exercise(self, event) -> None:
        from intents.exercise import PlayCue

        if isinstance(event, PlayCue):
            self.cues += 1

    def mix(self, at: float, chunk: AudioChunk) -> None:
        samples = pcm16(convert_all([chunk])).astype(np.float64)
        start = int(at * self.rate)
        room = self.track[start:start + len(samples)]
        room += samples[:len(room)]

    def now(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def describe(self) -> str:
        return "a room with a speaker in it"

    def run(self, emit, report, stop) -> None:
        self.started = time.monotonic()
        step = self.rate // 20
        for start in range(0, len(self.track) - step, step):
            if start / self.rate > self.leave_at:
                return
            if stop.wait(max(0.0, (start + step) / self.rate - self.now())):
                return
            block = np.clip(self.track[start:start + step], -32768, 32767).astype("<i2")
            emit(AudioChunk(block.tobytes(), self.rate, 2, 1, start / self.rate))


class RoomSpeaker:
    audible = True

    def __init__(self, room: Room) -> None:
        self.room = room
        self._answered = False

    def play(self, chunk: AudioChunk) -> None:
        room = self.room
        at = room.now()
        room.played.append((at, at + chunk.duration))
        if room.started is None:  # before the microphone opens: nobody hears it, no need to wait
            return
        room.mix(at, chunk)
        cue, delay, speech = room.answer
        if room.cues == cue and not self._answered:  # this is that cue
            self._answered = True
            room.mix(at + chunk.duration + delay, speech)
            room.leave_at = at + chunk.duration + delay + speech.duration + 8.0
        time.sleep(chunk.duration)

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        pass


@pytest.mark.slow
def test_breathing_cues_coming_back_into_the_microphone_are_not_commands(
        pocketsphinx_restricted, library, matcher):
    """"And out, slowly" must not be heard as "slower", nor any cue as anything else: the
    session runs on until the person, not the coach, says stop."""
    assert "slowly" in library.breathing.cues["out"]
    # The person says "stop" 1.5 s after the second cue (the first breath out) has ended,
    # while the coach is quiet.
    room = Room(read_speech_wav(recording("piper-joe--calm-help.wav")),
                (2, 1.5, read_speech_wav(recording("piper-joe--cmd-stop.wav"))), 45.0)
    lines: list[str] = []
    speaker = Speaker(EspeakSynthesizer(), RoomSpeaker(room))
    _loop(room, pocketsphinx_restricted, library, matcher, speaker, lines=lines,
          on_exercise=room.on_exercise).run()
    heard = [line for line in lines if "heard during breathing" in line]
    cues = [line for line in lines if line.startswith("cue ")]
    said = [line for line in lines if line.startswith("coach:")]
    assert "| intent: calm_down" in next(line for line in lines if "heard:" in line), lines
    assert len(heard) == 1 and "stop" in heard[0], lines  # the cues were never heard
    assert [c.split(":")[0] for c in cues] == ["cue 1.1 in", "cue 1.2 out"], lines
    assert said[-2:] == [f'coach: "{library.breathing.lines.caution}"',
                         f'coach: "{library.breathing.lines.stopped}"'], lines
    assert room.cues == 2


def test_the_recognisers_other_readings_reach_the_coach(library, matcher):
    executor = local_executor(library, matcher)
    transcript = Transcript("what causes trust issues", 0.4, engine="pocketsphinx",
                            alternatives=("he choked me last night",))
    asked = executor.hear(transcript)
    assert asked.reply.text == library.lines.safety_check
    assert executor.hear(typed("yes")).reply.intent.crisis


class SlowEngine:
    """The real recogniser, made to take `delay` seconds more over every utterance, as a
    neural recogniser may."""

    name = "pocketsphinx, slowed"

    def __init__(self, engine, delay: float) -> None:
        self.engine, self.delay = engine, delay

    def start(self):
        return _SlowSession(self.engine.start(), self.delay)


class _SlowSession:
    def __init__(self, session, delay: float) -> None:
        self.session, self.delay = session, delay

    def accept(self, chunk) -> None:
        self.session.accept(chunk)

    def partial(self) -> str:
        return self.session.partial()

    def finish(self):
        time.sleep(self.delay)
        return self.session.finish()


@pytest.mark.slow
def test_a_slow_recogniser_never_makes_a_cue_late(tmp_path, pocketsphinx_restricted, library,
                                                 matcher):
    """Recognition runs off the path that keeps time: with every utterance taking 1.5 s longer
    to recognise, each cue still starts within 20 ms of its schedule, and "slower" and "stop"
    are still obeyed (late by the recogniser's delay, as they must be)."""
    from intents.exercise import PlayCue

    path = _join(tmp_path, "session.wav", read_speech_wav(recording("piper-joe--calm-help.wav")),
                 2.5, read_speech_wav(recording("piper-joe--cmd-slower.wav")), 9.0,
                 read_speech_wav(recording("piper-joe--cmd-stop.wav")), 4.0)
    onsets: list[tuple[float, float]] = []

    def cue_played(event) -> None:
        if isinstance(event, PlayCue):
            onsets.append((event.due, time.monotonic()))

    lines: list[str] = []
    loop = _loop(WavFileSource(path, realtime=True), SlowEngine(pocketsphinx_restricted, 1.5),
                 library, matcher, Speaker(None, SilentSink()), lines=lines,
                 on_exercise=cue_played)
    loop.run()
    said = [line for line in lines if line.startswith("coach:")]
    b = library.breathing.lines
    assert said[-2:] == [f'coach: "{b.slower}"', f'coach: "{b.stopped}"'], lines
    assert len(onsets) >= 3, lines
    late = [round(1000 * (actual - due), 1) for due, actual in onsets]
    assert all(abs(ms) < 20 for ms in late), late
    # The out-breath after "slower" is 20 % longer: 7.2 s instead of 6.
    assert onsets[2][0] - onsets[1][0] == pytest.approx(6 * 1.2, abs=1e-6)


def test_a_loop_can_run_again_and_the_conversation_goes_on(tmp_path, pocketsphinx_restricted,
                                                          library, matcher):
    path = _join(tmp_path, "one.wav", read_speech_wav(recording("piper-joe--causes.wav")), 1.0)
    lines: list[str] = []
    loop = _loop(WavFileSource(path), pocketsphinx_restricted, library, matcher,
                 Speaker(None, SilentSink()), lines=lines)
    loop.run()
    loop.run()  # the source again, as after a microphone came back
    assert sum(line.startswith("coach:") for line in lines) == 1  # greeted once
    # The conversation went on: the same question again brings the next part of its answer.
    turns = [line.split("| intent: ")[1].split(" ")[0] for line in lines if "heard:" in line]
    assert turns == ["causes", "next"]
    assert loop.conversation.coach.state.history == ["causes", "next"]


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_the_program_stops_cleanly_within_a_second_on_a_signal(tmp_path, signal_name):
    """A real process listening to a recording in real time, stopped the way systemd (SIGTERM)
    or a person (Ctrl-C) stops it."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    path = _join(tmp_path, "long.wav", 30.0)

    def as_a_person_runs_it() -> None:  # Ctrl-C works (a test runner may ignore it)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen([sys.executable, "-m", "voice", "listen", "--input", str(path),
                                "--realtime", "--text-only"], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ,
                               preexec_fn=as_a_person_runs_it)  # noqa: PLW1509 - no threads yet
    try:
        for line in process.stderr:
            if line.startswith("listening:"):
                break
        time.sleep(0.5)  # listening: the source and listening threads are running
        asked = time.monotonic()
        process.send_signal(getattr(signal, signal_name))
        process.wait(timeout=10)
        took = time.monotonic() - asked
    finally:
        process.kill()
    assert process.returncode == 0
    assert "stopped" in process.stderr.read()
    assert took < 1.0, took


class _TimedSource(WavFileSource):
    """A recording in real time that remembers when it started, to time what it says."""

    def run(self, emit, report, stop) -> None:
        self.started = time.monotonic()
        super().run(emit, report, stop)


@pytest.mark.slow
@pytest.mark.parametrize("word", ["piper-joe--cmd-stop.wav", "piper-joe--cmd-pause.wav"])
def test_a_command_during_an_exercise_acts_within_300_ms_of_the_word(tmp_path, two_pass,
                                                                     library, matcher, word):
    """Whisper hears the whole utterance only after it has ended and a trailing silence has
    passed; the streaming pass acts on a command the moment it is said."""
    from intents.exercise import Finished, SayLine
    from voice.endpoint import SpeechEnded, UtteranceSegmenter

    command = read_speech_wav(recording(word))
    calm = read_speech_wav(recording("piper-joe--calm-help.wav"))
    path = _join(tmp_path, "session.wav", calm, 5.0, command, 3.0)
    # Where the word ends in the recording the loop hears (against its noise floor).
    segmenter = UtteranceSegmenter()
    events = [*segmenter.feed(read_speech_wav(path)), *segmenter.end_of_stream()]
    word_end = [e.end for e in events if isinstance(e, SpeechEnded)][-1]
    acted: list[float] = []

    def obeyed(event) -> None:
        if isinstance(event, SayLine | Finished) and not acted and event != SayLine(
                library.breathing.lines.caution):
            acted.append(time.monotonic())

    source = _TimedSource(path, realtime=True)
    lines: list[str] = []
    _loop(source, two_pass, library, matcher, Speaker(None, SilentSink()), lines=lines,
          on_exercise=obeyed).run()
    b = library.breathing.lines
    said = b.stopped if "stop" in word else b.paused
    assert f'coach: "{said}"' in lines, lines
    delay = acted[0] - (source.started + word_end)
    assert 0 < delay < 0.3, delay
