"""The benchmark's own parts, on a handful of real recordings, so a 50-minute run never fails
at its last step."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
from conftest import recording

from bench import speech, speech_set
from bench.speech_set import Item


@pytest.fixture(scope="module")
def scores(library, matcher):
    items = [Item(recording("piper-joe--calm-help.wav"), "piper-joe", "clean", None,
                  "please help me calm down", ("calm_down",)),
             Item(recording("piper-joe--causes.wav"), "piper-joe", "clean", None,
                  "what causes trust issues", ("causes",)),
             Item(recording("silence.wav"), "none", "clean", None, "", ("none",)),
             Item(recording("piper-joe--crisis-hit.wav"), "piper-joe", "clean", None,
                  "he hit me last night", ("crisis",)),
             # Its runner-up reading sounds like a disclosure: the safety question is asked.
             Item(recording("espeak-us--oos-weather.wav"), "espeak-us", "clean", None,
                  "what's the weather going to be", ("none",))]
    config = speech.Config("default", "pocketsphinx", True)
    return speech.evaluate(config, items, library, matcher, progress=lambda *a, **k: None)


def test_a_configuration_is_measured_end_to_end(scores):
    clean = scores.per_condition["clean"]
    assert clean["in_scope"] == 1.0 and clean["out_of_scope"] == 1.0
    assert clean["false_alarm"] == 0.0 and clean["crisis"] == 1.0
    assert clean["crisis_or_asked"] == 1.0 and clean["asked"] == 0.25  # 1 of 4 non-crisis
    assert 0 < scores.rtf < 1 and scores.wer["clean"] < 0.5
    assert 0 < scores.latency_ms["mean"] < 2000
    assert 0 < scores.ready_s < 10 and 50 < scores.peak_mb < 1000


def test_the_report_renders_every_table(scores):
    from bench.__main__ import render

    report = {"machine": "test", "when": "now", "recordings": 3, "voices": ["piper-joe"],
              "noisy_voices": [], "speech": [asdict(scores)], "notes": ["a note"],
              "matching": {"match_mean_ms": 1.0, "match_p95_ms": 2.0, "match_max_ms": 3.0,
                           "utterances": 10},
              "breathing": {"session_minutes": 5.0, "cues": 54, "onset_error_mean_ms": 1.0,
                            "onset_error_worst_ms": 2.0, "drift_first_to_last_ms": 0.5}}
    text = render(report)
    assert "| default | 100.0 % |" in text and "- a note" in text
    assert "| 100.0 % / n/a / n/a | 0.0 % | 25.0 % / n/a / n/a |" in text  # the safety question
    assert "onset error mean 1.00 ms" in text


@pytest.mark.parametrize("snr", [20, 10, 5])
def test_noise_is_mixed_at_the_asked_signal_to_noise_ratio(snr):
    rng = np.random.default_rng(0)
    speech_part = np.sin(np.arange(16_000) / 5.0) * 0.3
    signal = np.concatenate([np.zeros(8_000), speech_part, np.zeros(8_000)])
    noise = speech_set.pink_noise(len(signal), rng)
    mixed = speech_set.mix_at_snr(signal, noise, snr)
    added = mixed - signal
    measured = 10 * np.log10(np.mean(speech_part**2) / np.mean(added**2))
    assert measured == pytest.approx(snr, abs=0.2)


def test_the_wake_decision_is_measured_as_the_program_decides():
    from bench.wake import product, render

    assert product([recording("piper-joe--wake-tip.wav"), recording("piper-joe--tips.wav"),
                    recording("festival-kal--wake-only.wav")]) == [1, 0, 1]
    lines = render({"misses_pct": 4.0, "positives": 75, "false_wakes_per_hour": 0.5,
                    "negative_hours": 1.03, "sweep": [{"threshold": 1e-30, "misses_pct": 40.0,
                                                       "false_wakes_per_hour": 250.0}]})
    assert lines[0].startswith("- The program's decision") and "1e-30: 40.0 % missed" in lines[1]
