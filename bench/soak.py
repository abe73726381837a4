"""make soak: a long day in one run. Mixed speech, silence and noise stream through the real
listening loop (the default recogniser, the library, the coach and the voice) as fast as the
machine can take them, and the process is watched: resident memory, threads, open files, and
whether every utterance was answered.

    python -m bench.soak                  one hour of audio (make soak)
    python -m bench.soak --minutes 2      the short version CI runs (tests/test_soak.py)

The speech is the committed fixture recordings (tests/fixtures/audio), in a seeded shuffle,
except goodbyes, which would end the session. Between utterances: 1.5 to 4 s without speech, and
after every eighth half a minute, in which the room changes (quiet, a fan, a loud fan: the noise
lies under the speech too). The fixtures of silence, room tone and noise come round as
utterances do and must get no reply. Replies are synthesised with the program's voice (Piper
when installed, or --voice) and thrown away (nobody listens), so the voice is exercised too.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench import memory_mb
from common.memory import give_back_freed_memory, share_one_heap
from voice.audio import AudioChunk
from voice.wav import read_speech_wav

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "audio"
RATE = 16_000
CHUNK = 0.05  # seconds per chunk, as the microphone delivers them
WARM_UP_SHARE = 0.2  # memory is compared with its level after this share of the audio
WARM_UP_LONGEST = 4  # the longest recordings come first, so buffers reach their size early
SAMPLES = 60  # how many times the process is looked at
# The room's background as int16 RMS: quiet (-64 dBFS), a fan (-50 dBFS), a loud fan (-40 dBFS).
ROOMS = (20.0, 100.0, 300.0)
LONG_GAP = 30.0  # seconds of no speech
LONG_GAP_EVERY = 8  # utterances


@dataclass(frozen=True, slots=True)
class Utterance:
    path: Path
    expected: tuple[str, ...]
    speech: bool = True  # False: silence, room tone or noise, which must get no reply


@dataclass(frozen=True, slots=True)
class Sample:
    """The process, seen at one point of the stream."""

    audio_seconds: float
    rss_mb: float
    threads: int
    open_files: int
    # Of rss_mb: memory the process allocated, and pages of mapped files (libraries, models)
    # that are resident: the second grows as code is first run and shrinks when the kernel
    # takes pages back, without anything leaking.
    anonymous_mb: float = 0.0
    file_mb: float = 0.0


@dataclass(slots=True)
class SoakResult:
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    utterances: int = 0
    answered: int = 0  # utterances the loop heard and replied to
    right_intent: int = 0
    turns: int = 0  # every reply to something heard, noise taken for speech included
    quiet_pieces: int = 0  # silence, room tone or noise fed where an utterance would be
    noise_turns: int = 0  # replies to something heard where no one spoke
    unanswered: list[str] = field(default_factory=list)  # the recordings, and what was heard
    samples: list[Sample] = field(default_factory=list)

    @property
    def memory_growth_mb(self) -> float:
        """Growth after warm-up: the samples' trend (a least-squares line) over the audio they
        span. Single samples move by tens of MB even at rest (bench/README.md, A long day); a
        leak is a slope."""
        return self._trend(lambda sample: sample.rss_mb)

    @property
    def anonymous_growth_mb(self) -> float:
        """The same trend for allocated memory alone (a leak is here)."""
        return self._trend(lambda sample: sample.anonymous_mb)

    @property
    def file_growth_mb(self) -> float:
        """The same trend for resident pages of mapped files."""
        return self._trend(lambda sample: sample.file_mb)

    def _trend(self, of: Callable[[Sample], float]) -> float:
        warm = self._after_warm_up()
        if len(warm) < 3:
            return 0.0
        seconds = np.array([s.audio_seconds for s in warm])
        slope = np.polyfit(seconds, np.array([of(s) for s in warm]), 1)[0]
        return round(float(slope * (seconds[-1] - seconds[0])), 1)

    @property
    def memory_last_minus_first_mb(self) -> float:
        warm = self._after_warm_up()
        return round(warm[-1].rss_mb - warm[0].rss_mb, 1) if len(warm) > 1 else 0.0

    @property
    def memory_spread_mb(self) -> float:
        rss = [s.rss_mb for s in self._after_warm_up()]
        return round(max(rss) - min(rss), 1) if rss else 0.0

    @property
    def threads_flat(self) -> bool:
        return _flat([s.threads for s in self._after_warm_up()])

    @property
    def files_flat(self) -> bool:
        return _flat([s.open_files for s in self._after_warm_up()])

    def _after_warm_up(self) -> list[Sample]:
        return [s for s in self.samples if s.audio_seconds >= WARM_UP_SHARE * self.audio_seconds]


def _flat(counts: list[int]) -> bool:
    """A leak raises the floor; a reply being synthesised when the sample is taken (a thread,
    a pipe) does not: the lowest count of the later half is no higher than of the earlier."""
    half = len(counts) // 2
    return half == 0 or min(counts[half:]) <= min(counts[:half])


def fixture_utterances() -> list[Utterance]:
    with (FIXTURES / "manifest.tsv").open(encoding="utf-8") as rows:
        found = [Utterance(FIXTURES / row["file"], tuple(row["expected"].split("|")),
                           speech=row["voice"] != "-")
                 for row in csv.DictReader(rows, delimiter="\t")]
    return [u for u in found if "goodbye" not in u.expected and u.path.name != "conversation.wav"]


def _wait_until_quiet(limit: float = 120.0) -> None:
    """Until the process has gone quiet: under 5 % of a core over half a second."""
    import time

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = time.process_time()
        time.sleep(0.5)
        if time.process_time() - before < 0.025:
            return


def _process_now(audio_seconds: float) -> Sample:
    resident, anonymous, files = (round(mb, 1) for mb in memory_mb("VmRSS", "RssAnon",
                                                                    "RssFile"))
    return Sample(round(audio_seconds, 1), resident, len(os.listdir("/proc/self/task")),
                  len(os.listdir("/proc/self/fd")), anonymous, files)


class SoakSource:
    """An endless-seeming recording: utterances with quiet or noise between them, made as it is
    read (an hour of audio is never held in memory)."""

    live = False

    def __init__(self, seconds: float, utterances: list[Utterance], seed: int = 7,
                 on_audio: Callable[[float], None] | None = None,
                 between: Callable[[float], None] | None = None) -> None:
        self.seconds = seconds
        self.utterances = utterances
        self.rng = np.random.default_rng(seed)
        self.on_audio = on_audio or (lambda seconds: None)
        # Called after each pause between utterances, and at the end, with the position; it
        # may hold the stream there (to look at the process at rest).
        self.between = between or (lambda seconds: None)
        self.fed: list[Utterance] = []
        self.spans: list[tuple[float, float]] = []  # where each fed utterance lies, in seconds
        self._speech = {u.path: read_speech_wav(u.path).samples for u in utterances}

    def describe(self) -> str:
        return f"{self.seconds / 60:.0f} minutes of speech, silence and noise"

    def run(self, emit, report, stop: threading.Event) -> None:
        position = 0.0
        for n, samples in enumerate(self._pieces()):
            for start in range(0, len(samples), int(CHUNK * RATE) * 2):
                if stop.is_set():
                    return
                piece = samples[start:start + int(CHUNK * RATE) * 2]
                emit(AudioChunk(piece, RATE, 2, 1, position))
                position += len(piece) / 2 / RATE
                self.on_audio(position)
            if n % 2:  # utterance, pause: the utterance has ended
                self.between(position)

    def _pieces(self) -> Iterator[bytes]:
        made = 0.0
        level = ROOMS[0]
        by_length = sorted(self.utterances, key=lambda u: len(self._speech[u.path]))
        order: list[Utterance] = by_length[-WARM_UP_LONGEST:]
        while made < self.seconds:
            if not order:
                order = [self.utterances[i] for i in self.rng.permutation(len(self.utterances))]
            utterance = order.pop()
            speech = np.frombuffer(self._speech[utterance.path], dtype="<i2")
            self.fed.append(utterance)
            self.spans.append((made, made + len(speech) / RATE))
            yield self._mixed(speech, self._background(len(speech), level, level))
            if len(self.fed) % LONG_GAP_EVERY == 0:  # a long quiet spell; the room changes
                gap, new_level = LONG_GAP, ROOMS[(len(self.fed) // LONG_GAP_EVERY) % len(ROOMS)]
            else:
                gap, new_level = float(self.rng.uniform(1.5, 4.0)), level
            yield self._mixed(np.zeros(int(gap * RATE)),
                              self._background(int(gap * RATE), level, new_level))
            level = new_level
            made += len(speech) / RATE + gap

    def _background(self, n: int, level: float, new_level: float) -> np.ndarray:
        """Pink noise (a fan, a fridge, traffic far off) at `level`, moving to `new_level`
        over the first ten seconds, as a fan spinning up or down does."""
        spectrum = np.fft.rfft(self.rng.normal(0, 1, n))
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        noise = np.fft.irfft(spectrum, n)
        noise /= np.sqrt(np.mean(noise**2)) + 1e-12
        ramp = np.minimum(np.arange(n) / (10 * RATE), 1.0)
        return noise * (level + (new_level - level) * ramp)

    @staticmethod
    def _mixed(speech: np.ndarray, background: np.ndarray) -> bytes:
        return np.clip(speech + background, -32768, 32767).astype("<i2").tobytes()


class _Discarded:
    """Replies are synthesised and thrown away: the voice runs, nobody waits for it."""

    audible = False

    def __init__(self) -> None:
        self.seconds = 0.0

    def play(self, chunk: AudioChunk) -> None:
        self.seconds += chunk.duration

    def pause(self, seconds: float) -> None:
        pass

    def close(self) -> None:
        pass


def soak(minutes: float, progress: Callable[[str], None] | None = None,
         voice_name: str | None = None) -> SoakResult:
    """Stream `minutes` of audio through the loop built as `trust-coach listen` builds it."""
    import time

    from intents.conversation import Conversation
    from voice import wiring
    from voice.loop import VoiceLoop
    from voice.piper_voice import choose_synthesizer
    from voice.settings import settings_from
    from voice.tts import Speaker

    class CountedConversation(Conversation):
        """The conversation, with each utterance it is told about counted (a full reading
        after an instant command is the same utterance again)."""

        def __init__(self, coach) -> None:
            super().__init__(coach)
            self.intents: list[str] = []

        def hear(self, transcript):
            turn = super().hear(transcript)
            self.intents.append(turn.reply.intent.id)
            return turn

    progress = progress or (lambda line: None)
    settings = settings_from({})
    result = SoakResult()
    seconds = minutes * 60
    marks = iter([seconds * i / SAMPLES for i in range(1, SAMPLES)])
    next_mark = [next(marks)]

    def on_audio(position: float) -> None:
        result.audio_seconds = position

    def between(position: float) -> None:
        # The process is looked at at rest, as a home device is most of the day: the stream
        # is held until everything fed so far has been heard and answered. (Looked at while
        # the next utterance was being decoded, a sample moved 20-30 MB with the decoder's
        # working memory.)
        if position >= next_mark[0] or position >= seconds:
            _wait_until_quiet()
            # What is held, not what the allocator keeps free for reuse: the loop hands that
            # back after each turn too, but the listener may have decoded noise since.
            gc.collect()
            give_back_freed_memory()
            result.samples.append(_process_now(position))
            progress(f"{position / 60:5.1f} min of audio: {result.samples[-1]}")
            next_mark[0] = next(marks, float("inf"))

    source = SoakSource(seconds, fixture_utterances(), on_audio=on_audio, between=between)
    talk = CountedConversation(wiring.coach(settings))
    recogniser = wiring.engine(settings, talk.coach.library)
    voice = choose_synthesizer(settings.speech_rate, voice_name)  # as `listen` chooses
    if hasattr(voice, "prepare"):
        # A day after the first start: the sentences `listen` makes ahead are made (on the
        # first start they are made on a worker while it listens).
        progress(f"voice: {voice.prepare(wiring.replies_to_prepare(settings))} sentences made "
                 "ahead")
    class WatchedLoop(VoiceLoop):
        """The loop, with where each utterance it answered lay in the stream noted."""

        def _heard(self, event, executor, clock, worker, attention):
            heard.append((event.start, event.end, event.transcript.text))
            return super()._heard(event, executor, clock, worker, attention)

    heard: list[tuple[float, float, str]] = []
    loop = WatchedLoop(source, recogniser, talk, Speaker(voice, _Discarded()),
                     out=lambda line: None, report=lambda line: progress(f"report: {line}"),
                     endpoint=settings.endpoint, denoise=settings.denoise)
    started, cpu_started = time.monotonic(), time.process_time()
    with _FinishedUtterances.watching() as finished:  # all the listener ended, answered or not
        loop.run()
    result.wall_seconds = round(time.monotonic() - started, 1)
    result.cpu_seconds = round(time.process_time() - cpu_started, 1)
    result.audio_seconds = round(result.audio_seconds, 1)
    result.turns = len(talk.intents)
    _account(result, source, heard, finished.spans)
    result.right_intent = _right(talk.intents, [u.expected for u in source.fed if u.speech])
    return result


class _FinishedUtterances(logging.Handler):
    """The listener's own account of each utterance it ended, empty readings included: what
    an unanswered recording turned into (nothing, an empty reading, or part of another)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.spans: list[tuple[float, float, str]] = []

    @classmethod
    @contextlib.contextmanager
    def watching(cls) -> Iterator[_FinishedUtterances]:
        handler, listening_log = cls(), logging.getLogger("voice.listening")
        was = listening_log.level
        listening_log.addHandler(handler)
        listening_log.setLevel(logging.DEBUG)
        try:
            yield handler
        finally:
            listening_log.removeHandler(handler)
            listening_log.setLevel(was)

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("utterance ") and len(record.args) == 4:
            start, end, reason, text = record.args
            self.spans.append((start, end, f"{text!r} ({reason})"))


def _account(result: SoakResult, source: SoakSource, heard: list[tuple[float, float, str]],
             finished: list[tuple[float, float, str]]) -> None:
    """Which utterances were heard (a reply to speech overlapping them), which were not, and
    how many replies answered no one (noise or silence heard as speech)."""
    answered = [False] * len(source.spans)
    for start, end, _ in heard:
        hits = [i for i, (s, e) in enumerate(source.spans)
                if start < e and end > s and source.fed[i].speech]
        for i in hits:
            answered[i] = True
        result.noise_turns += not hits
    result.utterances = sum(u.speech for u in source.fed)
    result.quiet_pieces = len(source.fed) - result.utterances
    result.answered = sum(answered)
    for i, done in enumerate(answered):
        if not done and source.fed[i].speech:
            s, e = source.spans[i]
            near = [text for start, end, text in heard if start < e + 5 and end > s - 5]
            ended = [f"{start:.1f}-{end:.1f} s {text}" for start, end, text in finished
                     if start < e + 5 and end > s - 5]
            result.unanswered.append(f"{source.fed[i].path.name} at {s:.1f}-{e:.1f} s "
                                     f"(answered nearby: {near}; the listener ended: {ended})")


def _right(intents: list[str], expected: list[tuple[str, ...]], reach: int = 3) -> int:
    """How many replies had the intent of the utterance they answered. Replies and
    utterances are lined up in order, allowing for an utterance that got no reply (or a noise
    that got one): a reply is matched with the next few utterances still unmatched."""
    right, at = 0, 0
    for intent in intents:
        for offset, wanted in enumerate(expected[at:at + reach]):
            if intent in wanted:
                right, at = right + 1, at + offset + 1
                break
        else:
            at += 1
    return right


def main() -> None:
    share_one_heap()  # as the program does
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--voice", help="the voice (default: the program's, Piper when "
                        "installed)")
    args = parser.parse_args()
    result = soak(args.minutes, progress=lambda line: print(line, flush=True),
                  voice_name=args.voice)
    figures = {**asdict(result), "memory_growth_mb": result.memory_growth_mb,
               "memory_last_minus_first_mb": result.memory_last_minus_first_mb,
               "memory_spread_mb": result.memory_spread_mb,
               "anonymous_growth_mb": result.anonymous_growth_mb,
               "file_growth_mb": result.file_growth_mb,
               "threads_flat": result.threads_flat, "files_flat": result.files_flat}
    print(json.dumps({k: v for k, v in figures.items() if k != "samples"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
