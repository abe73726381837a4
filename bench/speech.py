"""Accuracy and speed on recorded speech, per engine configuration, in one run.

For each configuration: intent accuracy per condition (in-scope lines), out-of-scope rejection,
crisis recall, word error rate, real-time factor (processing seconds per audio second; this
process is single-threaded, so one core), latency from the end of speech to the first reply
audio, start-up time to ready, and peak memory (each measured in a fresh process).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from bench.speech_set import Item

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Config:
    name: str
    engine: str  # whisper (two passes) | whisper-alone | pocketsphinx | vosk
    restricted: bool
    model_dir: Path | None = None
    denoise: bool = True
    window: float | None = None  # Whisper's window in seconds (None: its default)


@dataclass
class Scores:
    config: str
    per_condition: dict[str, dict[str, float]] = field(default_factory=dict)
    per_voice: dict[str, dict[str, float]] = field(default_factory=dict)  # in-scope accuracy
    wer: dict[str, float] = field(default_factory=dict)
    rtf: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    ready_s: float = 0.0
    peak_mb: float = 0.0


def configs(models_root: Path, ablation: bool = False) -> tuple[list[Config], list[str]]:
    """The configurations that can run here, and notes on those that cannot."""
    from voice.models import WHISPER_INSTALL, installed_models

    whisper = models_root / WHISPER_INSTALL
    whisper_dir = whisper if (whisper / "model.bin").is_file() else None  # else the wheels
    found = [
        Config("whisper + pocketsphinx, two passes (default)", "whisper", True, whisper_dir),
        # (The two slowest first: two run at a time, and the faster two then fill in.)
        Config("whisper alone, 30 s window", "whisper-alone", True, whisper_dir, window=30.0),
        Config("whisper alone, 10 s window", "whisper-alone", True, whisper_dir, window=10.0),
        Config("pocketsphinx + library LM + denoise", "pocketsphinx", True),
    ]
    if ablation:  # what noise suppression adds, at the cost of other passes over the set
        found += [Config("pocketsphinx + library LM, no denoise", "pocketsphinx", True,
                         denoise=False),
                  Config("pocketsphinx + full LM + denoise", "pocketsphinx", False),
                  Config("whisper + pocketsphinx, no denoise", "whisper", True, whisper_dir,
                         denoise=False)]
    notes = []
    english = [p for p in installed_models(models_root) if "-en-" in p.name]
    if english:
        found += [Config("vosk + grammar", "vosk", True, english[0]),
                  Config("vosk, no grammar", "vosk", False, english[0])]
    else:
        notes.append(f"Vosk: no English Vosk model in {_shown(models_root)} (none can be "
                     "installed on this machine), so the Vosk rows are missing.")
    return found, notes


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the checkout when inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load(config: Config, library):
    from dataclasses import replace

    from intents.grammar import recognition_sentences
    from voice.stt import EngineChoice, load_engine

    model_dir = Path(config.model_dir) if config.model_dir else None
    if config.engine == "whisper-alone":
        from voice.whisper_engine import DEFAULT_SETTINGS, WhisperEngine

        settings = replace(DEFAULT_SETTINGS, window=config.window or DEFAULT_SETTINGS.window)
        return WhisperEngine(model_dir, settings)
    choice = EngineChoice(config.engine, model_dir, "bench")
    phrases = recognition_sentences(library) if config.restricted else None
    return load_engine(choice, restrict_to=phrases)


def _words(text: str) -> list[str]:
    from intents.normalize import normalize

    return normalize(text).split()


def evaluate_in_process(config: Config, items: list[Item]) -> Scores:
    from common.memory import share_one_heap
    from intents.library import load_library
    from intents.matcher import IntentMatcher

    share_one_heap()  # as the program does (a process of its own: spawned)
    library = load_library()
    return evaluate(config, items, library, IntentMatcher(library))


def evaluate(config: Config, items: list[Item], library, matcher, progress=print) -> Scores:
    from voice.listening import transcribe_recording
    from voice.wav import read_speech_wav

    engine = load(config, library)
    tally: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    voices: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    errors: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    busy = audio_seconds = 0.0
    for n, item in enumerate(items, start=1):
        audio = read_speech_wav(item.path)
        started = time.process_time()
        transcript = transcribe_recording(engine, audio, denoise=config.denoise)
        busy += time.process_time() - started
        audio_seconds += audio.duration
        heard = transcript.text
        understood = matcher.understand(heard, transcript.alternatives)
        intent = understood.id
        kind = ("out_of_scope" if item.expected == ("none",) else
                "crisis" if item.expected == ("crisis",) else "in_scope")
        right = tally[item.condition][kind]
        right[0] += intent in item.expected
        right[1] += 1
        # The safety question (a runner-up reading discloses danger): for a disclosure it is
        # a second chance to be heard; for anything else it is a question asked needlessly.
        asked = understood.possible_crisis is not None
        question = tally[item.condition]["crisis_or_asked" if kind == "crisis" else "asked"]
        question[0] += (intent == "crisis" or asked) if kind == "crisis" else asked
        question[1] += 1
        if kind == "in_scope":
            voices[item.voice][item.condition][0] += intent in item.expected
            voices[item.voice][item.condition][1] += 1
        if kind != "crisis":
            false_alarm = tally[item.condition]["false_alarm"]
            false_alarm[0] += intent == "crisis"
            false_alarm[1] += 1
        reference = _words(item.text)
        errors[item.condition][0] += Levenshtein.distance(reference, _words(heard))
        errors[item.condition][1] += len(reference)
        if n % 500 == 0:
            progress(f"    {config.name}: {n}/{len(items)}", flush=True)
    scores = Scores(config.name)
    scores.per_condition = {
        condition: {kind: right / total for kind, (right, total) in kinds.items() if total}
        for condition, kinds in tally.items()}
    scores.per_voice = {voice: {c: right / total for c, (right, total) in conditions.items()}
                        for voice, conditions in voices.items()}
    scores.wer = {c: e / n for c, (e, n) in errors.items() if n}
    scores.rtf = busy / audio_seconds
    scores.latency_ms = latency(engine, matcher, items, denoise=config.denoise)
    ready, peak = startup(config)
    scores.ready_s, scores.peak_mb = ready, peak
    return scores


def latency(engine, matcher, items: list[Item], sample: int = 25,
            denoise: bool = True) -> dict[str, float]:
    """From the moment the trailing silence has confirmed the end of speech to the first
    audio of the reply: the listener's last step (finishing the decode), understanding,
    choosing the reply, and synthesizing its first sentence. The recording is fed as the live
    loop feeds a microphone, in 50 ms chunks through the same listener. (The trailing-silence
    wait itself is configurable and not included.)"""
    from intents.coach import Coach
    from intents.library import sentences
    from voice.audio import AudioChunk
    from voice.listening import CHUNK_SECONDS, UtteranceListener
    from voice.tts import EspeakSynthesizer
    from voice.wav import read_speech_wav

    synthesizer = EspeakSynthesizer()
    clean = [it for it in items if it.condition == "clean" and it.voice == "piper-joe"]
    timings, cpu = [], []
    for item in clean[:sample]:
        coach = Coach(matcher.library, matcher)
        listener = UtteranceListener(engine, denoise=denoise)
        audio = read_speech_wav(item.path)
        samples = audio.samples + bytes(2 * 16_000)  # a second of quiet after the request
        step = round(CHUNK_SECONDS * 16_000) * 2
        for offset in range(0, len(samples), step):
            started, cpu_started = time.perf_counter(), time.process_time()
            heard = listener.feed(AudioChunk(samples[offset:offset + step], 16_000, 2, 1,
                                             offset / 32_000))
            if heard:
                break
        else:
            continue  # nothing heard in it: no reply to time
        reply = coach.reply_to(coach.understand(heard[0].transcript))
        first = sentences(reply.spoken)[0] if reply.spoken.strip() else "Okay."
        synthesizer.synthesize(first)
        timings.append(1000 * (time.perf_counter() - started))
        cpu.append(1000 * (time.process_time() - cpu_started))
    timings.sort()
    cpu.sort()
    # CPU time too: two configurations run side by side, and on two cores the wall time of
    # one is inflated by the other's bursts.
    return {"mean": statistics.fmean(timings), "p95": timings[int(0.95 * (len(timings) - 1))],
            "max": timings[-1], "cpu_mean": statistics.fmean(cpu),
            "cpu_p95": cpu[int(0.95 * (len(cpu) - 1))]}


_READY = """
import sys, time, json, resource
started = time.perf_counter()
from pathlib import Path
from intents.library import load_library
from intents.matcher import IntentMatcher
from bench.speech import Config, load
from voice.tts import EspeakSynthesizer
config = Config(**json.loads(sys.argv[1]))
library = load_library()
matcher = IntentMatcher(library)
engine = load(config, library)
EspeakSynthesizer()
ready = time.perf_counter() - started
from voice.wav import read_speech_wav
from voice.listening import transcribe_recording
for path in sys.argv[2:]:
    matcher.understand(transcribe_recording(engine, read_speech_wav(path),
                                            denoise=config.denoise).text)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ready": ready, "peak_mb": peak}))
"""


def startup(config: Config, sample: list[Path] | None = None) -> tuple[float, float]:
    """Time from process start to ready (library, matcher, engine and voice loaded, caches
    warm), and the peak resident memory after understanding a few recordings."""
    files = [str(p) for p in (sample or sorted((ROOT / "tests" / "fixtures" / "audio")
                                               .glob("piper-joe--c*.wav"))[:5])]
    spec = {"name": config.name, "engine": config.engine, "restricted": config.restricted,
            "model_dir": str(config.model_dir) if config.model_dir else None,
            "denoise": config.denoise, "window": config.window}
    runs = []
    for _ in range(3):  # the first run may build caches; report the best warm start
        out = subprocess.run([sys.executable, "-c", _READY, json.dumps(spec), *files],
                             capture_output=True, text=True, cwd=ROOT, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(r["ready"] for r in runs[1:]), max(r["peak_mb"] for r in runs)


def own_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
