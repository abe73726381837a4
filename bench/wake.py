"""The wake phrase: how often it is missed, and how often the coach wakes when nobody said it.

    python -m bench.wake [--minutes 60] [--json FILE]

Positives: "hey coach", alone and in front of requests, said by every benchmark voice (Piper
at two speeds, festival kal and slt, espeak-ng), clean and at 10 dB in pink noise and in babble.
Measured twice: the keyword search alone, at several thresholds (a positive is heard when it
is spotted anywhere in its recording; every spot in the negatives is a false wake); and the
program's decision (voice.wake.Attention: the recogniser's words, helped by the search), where
a positive is heard when an utterance of it is taken as meant for the coach, and every such
utterance in the negatives is a false wake.

Negatives: at least an hour of other speech (the library's example requests and the coach's
own replies, which say "coach" and "hey"; hand-written near misses such as "the coach said
hey"), in the same voices, with pauses, in a quiet room, in pink noise and in babble, and
stretches of noise alone. Every spot there is a false wake.

Rendered once into bench/cache/wake/ (not committed); seeded.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import time
from pathlib import Path

import numpy as np

from bench import print_and_save, speech_set
from voice.audio import AudioChunk
from voice.wake import DEFAULT_THRESHOLD, WakeSettings, WakeSpotter
from voice.wav import iter_wav_chunks, read_speech_wav, write_wav

CACHE = speech_set.CACHE / "wake"
RATE = speech_set.RATE
SEED = 11
THRESHOLDS = (1e-20, 1e-25, 1e-30, 1e-35)
PHRASES = ("hey coach", "hey coach, give me a tip", "hey coach, I need help right now",
           "hey coach, what causes trust issues", "okay. hey coach, help me calm down")
CONDITIONS = ("clean", "pink-10dB", "babble-10dB")
NEAR_MISSES = ("the coach said hey to everyone", "hey, could you pass the coffee",
               "we took the coach to the city", "sit on the couch with me",
               "hey cole, are you coming", "the coach of the team quit", "hey, go ahead",
               "hey Joe, coach them a bit", "okay, so the coaching session is at noon",
               "he is a good coach", "hey, coast is clear", "they coached the kids on sunday")


def _render_positives(voices: dict) -> list[tuple[Path, str, str, str]]:
    rng = np.random.default_rng(SEED)
    talkers = [speech_set._speak(voices["espeak-us"], t) for t in NEAR_MISSES[:4]]
    rows = []
    for voice, speak in voices.items():
        for index, text in enumerate(PHRASES):
            clean = speech_set._speak(speak, text)
            versions = {"clean": clean,
                        "pink-10dB": speech_set.mix_at_snr(
                            clean, speech_set.pink_noise(len(clean), rng), 10),
                        "babble-10dB": speech_set.mix_at_snr(
                            clean, speech_set.babble(len(clean), talkers, rng), 10)}
            for condition, samples in versions.items():
                path = CACHE / "positive" / voice / condition / f"{index}.wav"
                _write(path, samples)
                rows.append((path, voice, condition, text))
    return rows


def _render_negatives(voices: dict, minutes: float) -> list[tuple[Path, str, float]]:
    """Files of about five minutes each: speech with pauses, under a condition; and noise."""
    from intents.library import load_library

    library = load_library()
    texts = [e for entry in library.intents.values() for e in entry.examples]
    texts += [entry.reply for entry in library.intents.values()]
    texts += list(library.out_of_scope) + list(library.everyday) + list(NEAR_MISSES) * 3
    rng = random.Random(SEED)
    noise_rng = np.random.default_rng(SEED)
    names = list(voices)
    rows, total, block = [], 0.0, 0
    while total < minutes * 60:
        condition = ("clean", "pink-20dB", "babble-10dB", "noise-only")[block % 4]
        path = CACHE / "negative" / f"{block:03d}-{condition}.wav"
        if condition == "noise-only":
            samples = speech_set.pink_noise(RATE * 120, noise_rng) * 0.02
        else:
            parts = []
            while sum(len(p) for p in parts) < RATE * 300:
                speak = voices[names[rng.randrange(len(names))]]
                parts.append(speech_set._speak(speak, rng.choice(texts)))
                parts.append(np.zeros(int(RATE * rng.uniform(0.2, 2.0))))
            samples = np.concatenate(parts)
            if condition == "pink-20dB":
                samples = speech_set.mix_at_snr(samples, speech_set.pink_noise(
                    len(samples), noise_rng), 20)
            elif condition == "babble-10dB":
                talkers = [speech_set._speak(voices["festival-kal"], t)
                           for t in NEAR_MISSES[4:8]]
                samples = speech_set.mix_at_snr(samples, speech_set.babble(
                    len(samples), talkers, noise_rng), 10)
        _write(path, samples)
        seconds = len(samples) / RATE
        rows.append((path, condition, seconds))
        total += seconds
        block += 1
    return rows


def _write(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ints = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    write_wav(path, AudioChunk(ints.tobytes(), RATE, 2, 1))


def build(minutes: float, progress=print) -> tuple[list, list]:
    manifest = CACHE / f"manifest-{minutes:g}.json"
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        return ([(Path(p), v, c, t) for p, v, c, t in saved["positives"]],
                [(Path(p), c, s) for p, c, s in saved["negatives"]])
    progress(f"generating wake benchmark audio in {CACHE} (once; cached afterwards)")
    voices = speech_set._voices()
    positives = _render_positives(voices)
    negatives = _render_negatives(voices, minutes)
    manifest.write_text(json.dumps({
        "positives": [(str(p), v, c, t) for p, v, c, t in positives],
        "negatives": [(str(p), c, s) for p, c, s in negatives]}))
    return positives, negatives


def spots(path: Path, threshold: float) -> int:
    spotter = WakeSpotter(WakeSettings(threshold=threshold))
    return sum(spotter.accept(chunk) is not None for chunk in iter_wav_chunks(path, 0.05))


def _count(job: tuple[float, list[Path]]) -> tuple[float, list[int], float]:
    threshold, paths = job
    started = time.process_time()
    counts = [spots(p, threshold) for p in paths]
    return threshold, counts, time.process_time() - started


def product(paths: list[Path]) -> list[int]:
    """How many utterances of each recording the program takes as meant for it, deciding as
    `listen` does (voice.loop with voice.wake): the default recogniser over each utterance, the
    keyword search over every chunk, the follow-up window left out (a wake is counted, not
    what follows it)."""
    from intents.grammar import recognition_sentences
    from intents.library import load_library
    from voice.listening import UtteranceListener
    from voice.settings import default_models_root
    from voice.stt import choose_engine, load_engine
    from voice.wake import Attention

    engine = load_engine(choose_engine("auto", None, default_models_root()),
                         restrict_to=recognition_sentences(load_library()))
    counts = []
    for path in paths:
        listener = UtteranceListener(engine)
        spotter, attention = WakeSpotter(WakeSettings()), Attention(WakeSettings())
        heard = []
        for chunk in iter_wav_chunks(path, 0.05):
            if (at := spotter.accept(chunk)) is not None:
                attention.spotted(at)
            heard += listener.feed(chunk)
        heard += listener.end_of_stream(read_speech_wav(path).duration)
        counts.append(sum(attention.addressed(h.transcript.text, h.start, h.end)
                          for h in heard))
    return counts


def run(minutes: float = 60.0, progress=print) -> dict:
    positives, negatives = build(minutes, progress)
    hours = sum(s for *_, s in negatives) / 3600
    progress(f"  wake phrase: {len(positives)} positives, {hours:.2f} hours of negatives, "
             f"{len(THRESHOLDS)} thresholds, two at a time")
    paths = [p for p, *_ in positives] + [p for p, *_ in negatives]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        counted = pool.map(_count, [(t, paths) for t in THRESHOLDS])
        progress("  the program's decision: recogniser and keyword search together")
        halves = pool.map(product, [paths[0::2], paths[1::2]])
    decided = [0] * len(paths)
    decided[0::2], decided[1::2] = halves
    audio_hours = hours + sum(read_speech_wav(p).duration for p, *_ in positives) / 3600
    sweep = []
    for threshold, counts, cpu in counted:
        hit = [c > 0 for c in counts[:len(positives)]]
        false = sum(counts[len(positives):])
        sweep.append({"threshold": threshold, "misses_pct": 100 * (1 - sum(hit) / len(hit)),
                      "false_wakes": false, "false_wakes_per_hour": false / hours,
                      "cpu_seconds_per_audio_hour": cpu / audio_hours})
    spotted = [c > 0 for c in next(c for t, c, _ in counted if t == DEFAULT_THRESHOLD)
               [:len(positives)]]
    woke = [c > 0 for c in decided[:len(positives)]]
    false_wakes = sum(decided[len(positives):])
    by_voice = {}
    for (_, voice, condition, _), s, w in zip(positives, spotted, woke, strict=True):
        row = by_voice.setdefault(f"{voice} {condition}", [0, 0, 0])
        row[0] += 1
        row[1] += s
        row[2] += w
    return {"positives": len(positives), "negative_hours": hours, "sweep": sweep,
            "default_threshold": DEFAULT_THRESHOLD,
            "misses_pct": 100 * (1 - sum(woke) / len(woke)),
            "false_wakes": false_wakes, "false_wakes_per_hour": false_wakes / hours,
            "by_voice": {k: {"said": n, "spotted": s, "woke": w}
                         for k, (n, s, w) in by_voice.items()}}


def render(report: dict) -> list[str]:
    lines = [f"- The program's decision (recogniser's words with the keyword search): "
             f"{report['misses_pct']:.1f} % of {report['positives']} wake phrases missed; "
             f"{report['false_wakes_per_hour']:.1f} false wakes per hour over "
             f"{report['negative_hours']:.2f} hours of other speech and noise.",
             "- The keyword search alone, by threshold: " + "; ".join(
                 f"{row['threshold']:g}: {row['misses_pct']:.1f} % missed, "
                 f"{row['false_wakes_per_hour']:.0f} false spots per hour"
                 for row in report["sweep"]) + "."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wake")
    parser.add_argument("--minutes", type=float, default=60.0,
                        help="of other speech and noise (default 60)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    print_and_save(run(args.minutes), args.json)


if __name__ == "__main__":
    main()
