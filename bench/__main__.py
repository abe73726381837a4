"""make bench: every benchmark in one run on this machine, written to bench/results/.

    python -m bench                 everything (the speech set is generated once, ~3 minutes)
    python -m bench --quick         one voice, fewer conditions, a 1-minute breathing session
    python -m bench --targets       the conditions the targets name (every voice clean, 10 dB
                                    pink and babble, both rooms), every second recording: about
                                    an hour, where the full run takes three with Whisper's rows
    python -m bench --smoke         a dozen recordings: checks every part runs, saves nothing
    python -m bench --ablation      also the default without noise suppression (+45 minutes)
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
from dataclasses import asdict
from pathlib import Path

from bench import breathing as breathing_bench
from bench import matching as matching_bench
from bench import one_core as one_core_bench
from bench import speech, speech_set
from bench import voice as voice_bench
from bench import wake as wake_bench
from common.memory import share_one_heap

RESULTS = Path(__file__).resolve().parent / "results"
PLOT_CONDITIONS = ("clean", "pink-20dB", "pink-10dB", "pink-5dB")
BABBLE_CONDITIONS = ("clean", "babble-20dB", "babble-10dB", "babble-5dB")
TARGET_CONDITIONS = ("clean", "pink-10dB", "babble-10dB", "reverb-bathroom",
                     "reverb-concrete-room")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def main() -> None:
    share_one_heap()  # as the program does
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--targets", action="store_true",
                        help="the targets' conditions only, every second recording")
    parser.add_argument("--smoke", action="store_true",
                        help="a few recordings only: checks that every part runs (nothing saved)")
    parser.add_argument("--ablation", action="store_true",
                        help="also measure the default without noise suppression")
    args = parser.parse_args()
    from voice.settings import default_models_root

    started = datetime.datetime.now(datetime.UTC)
    print(f"machine: {machine()}")
    voices = ("piper-joe",) if args.quick else speech_set.VOICES
    items = speech_set.benchmark_items(speech_set.build(voices=speech_set.VOICES))
    items = [it for it in items if it.voice in voices]
    if args.quick or args.smoke:
        items = [it for it in items if it.condition in ("clean", "pink-10dB", "babble-10dB")]
    if args.targets:
        items = _every_second(it for it in items if it.condition in TARGET_CONDITIONS)
    if args.smoke:
        items = items[::len(items) // 12][:12]
    configs, notes = speech.configs(default_models_root(), ablation=args.ablation)
    print(f"  {len(configs)} configurations x {len(items)} recordings, two at a time")
    # One process per configuration, two at once (two cores). Real-time factors are CPU
    # seconds of each process, so running side by side does not inflate them.
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(speech.evaluate_in_process, [(c, items) for c in configs])
    if not args.smoke:  # the long part is done: kept even if a later part fails
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "speech-rows.json").write_text(
            json.dumps([asdict(r) for r in results], indent=1) + "\n")
    print("  matching speed")
    matching = matching_bench.run()
    print("  breathing cue timing (real time)")
    breathing = breathing_bench.run(minutes=0.2 if args.smoke else 1.0 if args.quick else 5.0)
    print("  speech out: first audio of each reply, both voices")
    voice = voice_bench.run(limit=5 if args.smoke else None)
    # Two benchmarks run on their own, on a quiet machine (python -m bench.one_core: latency
    # on one core; python -m bench.wake: an hour of audio); their latest figures are reported
    # with these.
    one_core, wake = (json.loads(path.read_text()) if path.is_file() else None
                      for path in (RESULTS / "one_core.json", RESULTS / "wake.json"))
    report = {
        "machine": machine(), "when": started.isoformat(timespec="seconds"),
        "recordings": len(items), "voices": list(voices),
        "noisy_voices": [v for v in speech_set.NOISY_VOICES if v in voices],
        "speech": [asdict(r) for r in results], "matching": matching,
        "breathing": breathing, "voice": voice, "one_core": one_core, "wake": wake,
        "quick": args.quick, "notes": notes,
    }
    if args.smoke:
        print(render(report))
        return
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = render(report)
    (RESULTS / "latest.md").write_text(markdown)
    plot(report, RESULTS / "accuracy-vs-snr.png")
    update_readme(README, markdown, "quick run (one voice, three conditions)" if args.quick
                  else "targets run (the targets' conditions, every second recording)"
                  if args.targets else "full run")
    print(markdown)


def _every_second(items) -> list:
    """Every second recording of each voice and condition (the same texts in each)."""
    seen: dict[tuple[str, str], int] = {}
    kept = []
    for item in items:
        key = (item.voice, item.condition)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] % 2:
            kept.append(item)
    return kept


README = Path(__file__).resolve().parent.parent / "README.md"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(readme: Path, markdown: str, kind: str) -> None:
    """The README shows the latest run: its tables (one heading level down) and plot."""
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        print(f"  {readme} has no {README_START} ... {README_END} section; not updated")
        return
    body = markdown.split("\n", 1)[1].replace("\n## ", "\n### ")
    section = (f"{README_START}\n_Latest {kind}: {markdown.splitlines()[0][13:-1]}; "
               f"written by `make bench`._\n{body}\n"
               "![Intent accuracy against noise](bench/results/accuracy-vs-snr.png)\n"
               f"{README_END}")
    head, rest = text.split(README_START, 1)
    readme.write_text(head + section + rest.split(README_END, 1)[1], encoding="utf-8")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def render(report: dict) -> str:
    speech_rows = report["speech"]
    conditions = list(speech_rows[0]["per_condition"]) if speech_rows else []
    lines = [f"# Benchmark ({report['when']})", "", f"Machine: {report['machine']}.  ",
             f"{report['recordings']} recordings per configuration; voices: "
             f"{', '.join(report['voices'])} (clean), of which "
             f"{', '.join(report['noisy_voices'])} also in every noise and room condition. "
             "Texts: a seeded sample of tests/data/holdout.tsv (every intent, out-of-scope "
             "requests, crisis disclosures), never used for tuning.", ""]
    lines += ["## Intent accuracy on in-scope requests, per condition", "",
              "| configuration | " + " | ".join(conditions) + " |",
              "|---|" + "---|" * len(conditions)]
    for row in speech_rows:
        cells = [_pct(row["per_condition"][c].get("in_scope")) for c in conditions]
        lines.append(f"| {row['config']} | " + " | ".join(cells) + " |")
    lines += ["", "## Rejection, safety, errors and speed", "",
              "| configuration | out-of-scope rejection (clean / 10 dB pink / 10 dB babble) "
              "| crisis recall (clean / 10 dB pink / 10 dB babble) | disclosures answered or "
              "asked about (same) | false crisis alarms (clean) | safety question asked of "
              "anything else (same) | WER clean | WER 10 dB pink | real-time factor | end of "
              "speech to reply audio (mean / p95) | ready | peak memory |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in speech_rows:
        per = row["per_condition"]

        def three(kind, per=per):
            return " / ".join(_pct(per.get(c, {}).get(kind))
                              for c in ("clean", "pink-10dB", "babble-10dB"))

        lines.append(
            f"| {row['config']} | {three('out_of_scope')} | {three('crisis')} | "
            f"{three('crisis_or_asked')} | {_pct(per.get('clean', {}).get('false_alarm'))} | "
            f"{three('asked')} | "
            f"{_pct(row['wer'].get('clean'))} | {_pct(row['wer'].get('pink-10dB'))} | "
            f"{row['rtf']:.3f} | {row['latency_ms']['mean']:.0f} / "
            f"{row['latency_ms']['p95']:.0f} ms (CPU {row['latency_ms'].get('cpu_mean', 0):.0f}"
            f" / {row['latency_ms'].get('cpu_p95', 0):.0f}) | {row['ready_s']:.2f} s | "
            f"{row['peak_mb']:.0f} MB |")
    if speech_rows and speech_rows[0]["per_voice"]:
        default = speech_rows[0]
        lines += ["", f"## In-scope intent accuracy per voice ({default['config']})", "",
                  "| voice | " + " | ".join(conditions) + " |",
                  "|---|" + "---|" * len(conditions)]
        for voice, per in default["per_voice"].items():
            lines.append(f"| {voice} | " + " | ".join(_pct(per.get(c)) for c in conditions)
                         + " |")
    m, b = report["matching"], report["breathing"]
    lines += ["", "## Understanding text, and breathing cues", "",
              f"- Matching one utterance (safety check and intent): mean "
              f"{m['match_mean_ms']:.2f} ms, 95th percentile {m['match_p95_ms']:.2f} ms, "
              f"worst {m['match_max_ms']:.2f} ms over {m['utterances']} utterances (CPU time on "
              f"one core: mean {m.get('match_cpu_mean_ms', 0.0):.2f} ms, 95th percentile "
              f"{m.get('match_cpu_p95_ms', 0.0):.2f} ms); a text "
              f"of {m.get('long_text_chars', 0):,} characters in "
              f"{m.get('long_text_s', 0.0):.2f} s.",
              f"- Breathing session of {b['session_minutes']:.1f} minutes with real speech "
              f"output ({b.get('voice', 'espeak-ng')}): {b['cues']} cues, onset error mean "
              f"{b['onset_error_mean_ms']:.2f} ms, "
              f"worst {b['onset_error_worst_ms']:.2f} ms, drift first to last "
              f"{b['drift_first_to_last_ms']:.2f} ms."]
    if "voice" in report:
        lines += voice_bench.render(report["voice"])
    if report.get("one_core"):
        lines += ["", "## One core (a stand-in for a Raspberry Pi)", "",
                  *one_core_bench.render(report["one_core"])]
    if report.get("wake"):
        lines += ["", "## The wake phrase", "", *wake_bench.render(report["wake"])]
    if report["notes"]:
        lines += ["", "## Not measured here", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    measured = set(report["speech"][0]["per_condition"]) if report["speech"] else set()
    for axis, wanted, title in ((axes[0], PLOT_CONDITIONS, "pink noise"),
                                (axes[1], BABBLE_CONDITIONS, "babble")):
        conditions = [c for c in wanted if c in measured]  # a --targets run has fewer
        snrs = [30 if c == "clean" else int(c.split("-")[1][:-2]) for c in conditions]
        for row in report["speech"]:
            values = [100 * row["per_condition"].get(c, {}).get("in_scope", float("nan"))
                      for c in conditions]
            axis.plot(snrs, values, marker="o", label=row["config"])
        axis.set_title(f"Intent accuracy in {title}")
        axis.set_xlabel("SNR (dB); 30 = clean")
        axis.invert_xaxis()
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("in-scope intent accuracy (%)")
    axes[0].set_ylim(0, 100)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
