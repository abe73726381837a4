"""The listening loop itself, with real sources, engines and speech output."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import recording

from intents.coach import Coach
from voice.audio import AudioChunk, convert_all, pcm16, read_speech_wav, write_wav
from voice.loop import Conversation, VoiceLoop, WavFileSource
from voice.stt import Transcript
from voice.tts import Pyttsx3Synthesizer, SilentSink, Speaker, WavFileSink


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


def _run(source, engine, library, matcher, sink, **options):
    lines: list[str] = []
    conversation = Conversation(Coach(library, matcher), Speaker(
        Pyttsx3Synthesizer() if not isinstance(sink, SilentSink) else None, sink),
        out=lines.append)
    VoiceLoop(source, engine, conversation, **options).run()
    sink.close()
    return [line for line in lines if line.startswith("heard:")]


@pytest.mark.slow
def test_it_never_answers_its_own_voice(tmp_path, pocketsphinx_restricted, library, matcher):
    """A live source and a speaker in the room: the reply comes back into the microphone
    (here, recorded into the input at the moment it is spoken) and must be ignored."""
    causes = read_speech_wav(recording("piper-joe--causes.wav"))
    reply = convert_all([Pyttsx3Synthesizer().synthesize(library.entry("causes").reply)])
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
    from voice.audio import Resampler

    speech = pcm16(read_speech_wav(recording("piper-joe--causes.wav"))).astype(np.float32)
    r = Resampler(16_000, 48_000)
    up = np.concatenate([r.process(speech / 32768), r.flush(), np.zeros(48_000)])
    path = tmp_path / "48k.wav"
    write_wav(path, AudioChunk(np.round(up * 32767).astype("<i2").tobytes(), 48_000, 2, 1))
    turns = _run(WavFileSource(path), pocketsphinx_restricted, library, matcher, SilentSink())
    assert "| intent: causes" in turns[0]


def test_when_speech_output_fails_the_reply_is_printed_and_the_talk_goes_on(library, matcher):
    from voice.devices import SpeakerSink

    lines: list[str] = []
    errors: list[str] = []
    speaker = Speaker(Pyttsx3Synthesizer(), SpeakerSink("no-such-speaker"))
    conversation = Conversation(Coach(library, matcher), speaker, out=lines.append,
                                report=errors.append)
    conversation.hear("what causes trust issues")
    conversation.hear("give me a tip")
    assert [line.split("| intent: ")[1].split(" ")[0] for line in lines] == ["causes", "tips"]
    assert len(errors) == 2 and all(e.startswith("error: speaker no-such-speaker") for e in errors)
    assert all("(reply printed instead)" in e for e in errors)


def test_speech_cut_short_by_our_own_voice_is_still_answered(pocketsphinx_restricted, library,
                                                            matcher, tmp_path):
    """Someone was still talking when the coach began to speak: what they had said is finished
    and answered, not thrown away with the echo (it might be a disclosure)."""
    path = _join(tmp_path, "talk.wav", read_speech_wav(recording("piper-joe--crisis-hit.wav")),
                 1.0)
    source = WavFileSource(path, realtime=True)
    speaker = Speaker(None, WavFileSink(tmp_path / "out.wav", pace=True))
    conversation = Conversation(Coach(library, matcher), speaker, out=lambda line: None)
    loop = VoiceLoop(source, pocketsphinx_restricted, conversation)
    from voice.audio import iter_wav_chunks

    heard = []
    chunks = list(iter_wav_chunks(path, 0.05))
    for chunk in chunks[:20]:  # the first second: "he hit me last night" is under way
        heard += loop.process(chunk)
    assert loop.segmenter.in_speech and heard == []
    loop._deaf_until = chunks[-1].end  # we start speaking now: the rest comes back as echo
    for chunk in chunks[20:]:
        heard += loop.process(chunk)
    assert len(heard) == 1 and matcher.understand(heard[0].text).id == "crisis", heard


def test_a_plain_stop_is_answered_and_starts_nothing(library, matcher):
    lines: list[str] = []
    conversation = Conversation(Coach(library, matcher), Speaker(None, SilentSink()),
                                out=lines.append)
    conversation.hear("stop")
    assert "| intent: stop" in lines[-1]
    assert conversation.pending is None and not conversation.finished
    conversation.hear("help me calm down")
    assert conversation.pending is not None  # an exercise about to start
    conversation.act(conversation.coach.respond("stop"))
    assert conversation.pending is None


class Room:
    """A quiet room with a microphone (this source) and a speaker in it (`RoomSpeaker`):
    whatever the speaker plays reaches the microphone while it plays, on one real-time line.

    `answer` is what the person says, and when: after the coach's how-manieth sound, and how
    many seconds after that sound ended."""

    live = True
    rate = 16_000

    def __init__(self, opening: AudioChunk, answer: tuple[int, float, AudioChunk],
                 seconds: float) -> None:
        self.track = np.random.default_rng(3).normal(0, 30, int(seconds * self.rate))
        self.mix(0.5, opening)
        self.answer = answer
        self.played: list[tuple[float, float]] = []  # (start, end) of each sound, room time
        self.started: float | None = None  # when the microphone was opened
        self.leave_at = seconds  # the recording ends a little after the coach's last word
        self._delivered = 0

    def mix(self, at: float, chunk: AudioChunk) -> None:
        samples = pcm16(convert_all([chunk])).astype(np.float64)
        start = int(at * self.rate)
        room = self.track[start:start + len(samples)]
        room += samples[:len(room)]

    def now(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def describe(self) -> str:
        return "a room with a speaker in it"

    def position(self) -> float:
        return self._delivered / self.rate

    def run(self, emit, report, stop) -> None:
        self.started = time.monotonic()
        step = self.rate // 20
        for start in range(0, len(self.track) - step, step):
            if start / self.rate > self.leave_at:
                return
            if stop.wait(max(0.0, (start + step) / self.rate - self.now())):
                return
            block = np.clip(self.track[start:start + step], -32768, 32767).astype("<i2")
            self._delivered = start + step
            emit(AudioChunk(block.tobytes(), self.rate, 2, 1, start / self.rate))


class RoomSpeaker:
    audible = True

    def __init__(self, room: Room) -> None:
        self.room = room

    def play(self, chunk: AudioChunk) -> None:
        room = self.room
        at = room.now()
        room.played.append((at, at + chunk.duration))
        if room.started is None:  # before the microphone opens: nobody hears it, no need to wait
            return
        room.mix(at, chunk)
        count, delay, speech = room.answer
        if len(room.played) == count:
            room.mix(at + chunk.duration + delay, speech)
        elif len(room.played) == count + 1:  # the coach's answer to it
            room.leave_at = at + chunk.duration + 2.0
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
    # Sounds played: the greeting, the reply, the caution, then cues. The person says "stop"
    # 1.5 s after the second cue (the first breath out) has ended, while the coach is quiet.
    room = Room(read_speech_wav(recording("piper-joe--calm-help.wav")),
                (5, 1.5, read_speech_wav(recording("piper-joe--cmd-stop.wav"))), 45.0)
    lines: list[str] = []
    conversation = Conversation(Coach(library, matcher),
                                Speaker(Pyttsx3Synthesizer(), RoomSpeaker(room)),
                                out=lines.append)
    VoiceLoop(room, pocketsphinx_restricted, conversation).run()
    heard = [line for line in lines if "heard during breathing" in line]
    cues = [line for line in lines if line.startswith("cue ")]
    said = [line for line in lines if line.startswith("coach:")]
    assert "| intent: calm_down" in next(line for line in lines if "heard:" in line), lines
    assert len(heard) == 1 and "stop" in heard[0], lines  # the cues were never heard
    assert [c.split(":")[0] for c in cues] == ["cue 1.1 in", "cue 1.2 out"], lines
    assert said[-2:] == [f'coach: "{library.breathing.lines.caution}"',
                         f'coach: "{library.breathing.lines.stopped}"'], lines
    assert len(room.played) == 6  # greeting, reply, caution, two cues, "we'll stop there"


def test_the_recognisers_other_readings_reach_the_coach(library, matcher):
    conversation = Conversation(Coach(library, matcher), Speaker(None, SilentSink()),
                                out=lambda line: None)
    transcript = Transcript("what causes trust issues", 0.4, engine="pocketsphinx",
                            alternatives=("he choked me last night",))
    asked = conversation.hear(transcript.text, transcript)
    assert asked.reply.text == library.lines.safety_check
    assert conversation.hear("yes").reply.intent.crisis
