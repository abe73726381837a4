"""Guided breathing: the schedule (exactly), sessions on a virtual clock, a real-time round,
rendered WAV files, and spoken commands recorded during a session."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import recording, run_cli

from intents.breathing import PACE_STEP, Phase, rounds_for, schedule
from voice.audio import AudioChunk, pcm16, read_speech_wav, read_wav_info, write_wav
from voice.breathing_session import BreathingSession
from voice.clock import MonotonicClock, SinkClock, VirtualClock
from voice.tts import GAP_BETWEEN_REPLIES, Pyttsx3Synthesizer, SilentSink, Speaker, WavFileSink

EXPECTED = {
    "gentle": ([("in", 4), ("out", 6)], 12),
    "sigh": ([("in", 3), ("top_up", 1), ("out", 8)], 10),
    "box": ([("in", 4), ("hold", 4), ("out", 4), ("hold", 4)], 8),
    "4-7-8": ([("in", 4), ("hold", 7), ("out", 8)], 4),
    "resonance": ([("in", 5.5), ("out", 5.5)], 11),
}


@pytest.fixture(scope="module")
def breathing(library):
    return library.breathing


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_pattern_is_exactly_as_specified(breathing, name):
    phases, rounds = EXPECTED[name]
    pattern = breathing.patterns[name]
    assert [(p.kind, p.seconds) for p in pattern.phases] == phases
    assert pattern.rounds == rounds
    plan = schedule(pattern, dict(breathing.cues), rounds)
    assert len(plan) == rounds * len(phases)
    expected_at, at = [], 0.0
    for _ in range(rounds):
        for _kind, seconds in phases:
            expected_at.append(at)
            at += seconds
    assert [c.at for c in plan] == pytest.approx(expected_at)
    assert [c.kind for c in plan] == [k for _ in range(rounds) for k, _ in phases]
    assert [c.text for c in plan][:2] == [breathing.cues[phases[0][0]],
                                         breathing.cues[phases[1][0]]]


def test_gentle_lasts_about_two_minutes_and_sigh_breathes_out_twice_as_long(breathing):
    assert breathing.patterns["gentle"].round_seconds * 12 == 120
    sigh = breathing.patterns["sigh"].phases
    breath_in = sum(p.seconds for p in sigh if p.kind in ("in", "top_up"))
    assert sum(p.seconds for p in sigh if p.kind == "out") == 2 * breath_in
    assert 60 / breathing.patterns["resonance"].round_seconds == pytest.approx(5.45, abs=0.1)


def test_four_seven_eight_never_goes_past_four_rounds(breathing):
    pattern = breathing.patterns["4-7-8"]
    assert rounds_for(pattern, 10) == 4
    assert rounds_for(pattern, 2) == 2


@pytest.mark.parametrize("steps", [1, 2, -1])
def test_slower_and_faster_stretch_every_phase_by_about_twenty_percent(breathing, steps):
    pattern = breathing.patterns["box"]
    pace = PACE_STEP ** steps
    plan = schedule(pattern, dict(breathing.cues), 2, pace)
    assert [c.seconds for c in plan] == pytest.approx([4 * pace] * 8)
    assert plan[-1].at == pytest.approx(7 * 4 * pace)


def test_counting_aloud_adds_a_cue_for_each_second(breathing):
    plan = schedule(breathing.patterns["box"], dict(breathing.cues), 1, count_aloud=True)
    assert [c.text for c in plan[:4]] == ["Breathe in", "two", "three", "four"]
    assert [c.at for c in plan[:5]] == [0, 1, 2, 3, 4]


def test_replanning_from_the_middle_keeps_the_order(breathing):
    plan = schedule(breathing.patterns["box"], dict(breathing.cues), 3, first_round=2,
                    first_phase=2)
    assert [(c.round, c.kind) for c in plan[:3]] == [(2, "out"), (2, "hold"), (3, "in")]
    assert plan[0].at == 0


# --- sessions on an injected clock ------------------------------------------------------------


class Script:
    """Something said at given moments of the session clock (the listener seam)."""

    def __init__(self, clock, lines: list[tuple[float, str]]):
        self.clock, self.lines = clock, list(lines)

    def listen(self, until: float):
        if self.lines and self.lines[0][0] <= until:
            at, text = self.lines.pop(0)
            self.clock.sleep_until(at)
            return text
        self.clock.sleep_until(until)
        return None

    def spoke(self):
        pass


def test_a_five_minute_session_runs_in_milliseconds_on_time(library):
    clock = VirtualClock()
    lines: list[str] = []
    session = BreathingSession(library, Speaker(None, SilentSink()), clock, on_line=lines.append)
    started = time.perf_counter()
    result = session.run("resonance", rounds=28)  # 28 x 11 s = 5 min 8 s
    assert time.perf_counter() - started < 0.5
    assert result.completed and len(result.onsets) == 56
    assert all(due == actual for due, actual in result.onsets)
    assert clock.now() == pytest.approx(28 * 11)
    assert lines[0] == f'coach: "{library.breathing.lines.caution}"'
    assert lines[-1] == f'coach: "{library.breathing.lines.closing}"'


def test_the_caution_is_said_once_per_session(library):
    lines: list[str] = []
    session = BreathingSession(library, Speaker(None, SilentSink()), VirtualClock(),
                               on_line=lines.append)
    session.run("gentle", rounds=1)
    session.run("gentle", rounds=1)
    assert sum(library.breathing.lines.caution in line for line in lines) == 1


def test_commands_change_the_session(library, matcher):
    clock = VirtualClock()
    script = Script(clock, [(5.0, "slower"), (20.0, "pause"), (25.0, "resume"),
                            (31.0, "switch to box breathing"), (40.0, "stop")])
    lines: list[str] = []
    session = BreathingSession(library, Speaker(None, SilentSink()), clock, listener=script,
                               matcher=matcher, on_line=lines.append)
    result = session.run("gentle")
    said = [line for line in lines if line.startswith("coach:")]
    b = library.breathing.lines
    assert said[1:] == [f'coach: "{t}"' for t in (
        b.slower, b.paused, b.resumed, b.switched.format(title="box breathing"), b.stopped)]
    assert result.ended_by == "stop" and not result.completed and result.pattern == "box"
    # After "slower" (at 5 s, during the first out-breath) phases are 20 % longer.
    dues = [due for due, _ in result.onsets]
    assert dues[1] - dues[0] == pytest.approx(4.0)
    assert dues[3] - dues[2] == pytest.approx(4 * PACE_STEP)
    # Nothing was cued while paused (20 s to 25 s).
    assert not [d for d in dues if 20.0 < d < 25.0]


def test_a_crisis_during_breathing_ends_it_and_is_handed_back(library, matcher):
    clock = VirtualClock()
    session = BreathingSession(library, Speaker(None, SilentSink()), clock,
                               listener=Script(clock, [(12.0, "he hit me last night")]),
                               matcher=matcher)
    result = session.run("gentle")
    assert result.ended_by == "crisis" and result.crisis.id == "crisis"


def test_a_long_cue_is_shortened_not_the_phase(library, tmp_path):
    from dataclasses import replace

    from intents.breathing import Pattern

    quick = Pattern("quick", "quick breathing", (Phase("in", 1.5), Phase("out", 1.5)), 3)
    content = replace(library.breathing, patterns={**library.breathing.patterns, "quick": quick})
    synthesizer = Pyttsx3Synthesizer(rate=90)  # very slow speech: "And out, slowly" runs long
    assert synthesizer.synthesize("And out, slowly").duration > 1.5
    sink = WavFileSink(tmp_path / "quick.wav")
    session = BreathingSession(replace(library, breathing=content),
                               Speaker(synthesizer, sink), SinkClock(sink))
    session.cautioned = True
    result = session.run("quick")
    dues = [d for d, _ in result.onsets]
    assert np.diff(dues) == pytest.approx([1.5] * 5)  # the phases kept their length
    assert sink.onsets[:6] == pytest.approx(dues, abs=1e-3)  # and the file keeps them
    closing_at = sink.onsets[6]  # after the last phase, and the usual pause before a reply
    assert closing_at == pytest.approx(dues[-1] + 1.5 + GAP_BETWEEN_REPLIES, abs=1e-3)
    sink.close()


# --- rendered to a WAV file: the file keeps the schedule ---------------------------------------


def _onsets(path, threshold_db=-45.0, min_gap=0.3):
    samples = pcm16(read_speech_wav(path)).astype(np.float64)
    frame = 80  # 5 ms
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    loud = 10 * np.log10((frames**2).mean(axis=1) / 32768**2 + 1e-12) > threshold_db
    onsets, quiet = [], min_gap
    for i, is_loud in enumerate(loud):
        if is_loud and quiet >= min_gap:
            onsets.append(i * frame / 16_000)
        quiet = 0.0 if is_loud else quiet + frame / 16_000
    return np.array(onsets)


@pytest.mark.parametrize("tone", [False, True])
def test_breathe_renders_a_wav_whose_cues_start_on_schedule(tmp_path, library, tone):
    out = tmp_path / "box.wav"
    args = ["breathe", "--pattern", "box", "--rounds", "2", "--output", str(out)]
    result = run_cli(*args, *(["--tone"] if tone else []))
    assert result.returncode == 0, result.stderr
    plan = schedule(library.breathing.patterns["box"], dict(library.breathing.cues), 2)
    cues = np.array([c.at for c in plan if not (tone and c.kind == "hold")])
    heard = _onsets(out)
    # Slide the schedule along the file; at the right offset every cue has a sound starting
    # within 30 ms of its time (the cue audio's own lead-in is a few ms).
    best = max(heard, key=lambda start: sum(np.min(np.abs(heard - t)) < 0.03
                                            for t in start + cues))
    misses = [float(t) for t in best + cues if np.min(np.abs(heard - t)) >= 0.03]
    assert misses == []


# --- real time ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_real_round_keeps_wall_clock_time(library, tmp_path):
    sink = WavFileSink(tmp_path / "live.wav", pace=True)  # plays at the speed of a speaker
    clock = MonotonicClock()
    session = BreathingSession(library, Speaker(Pyttsx3Synthesizer(), sink), clock)
    session.cautioned = True
    started = time.monotonic()
    result = session.run("gentle", rounds=1)
    errors = [actual - due for due, actual in result.onsets]
    assert len(errors) == 2 and max(abs(e) for e in errors) < 0.02
    assert result.onsets[0][0] - started < 0.1
    assert time.monotonic() - started == pytest.approx(10.0 + 2.5, abs=2.5)  # + closing line


# --- spoken commands recorded during a session --------------------------------------------------


def _conversation_with_commands(tmp_path, *parts) -> str:
    rng = np.random.default_rng(5)
    chunks = []
    for part in parts:
        if isinstance(part, float):
            chunks.append(rng.normal(0, 30, int(part * 16_000)).astype("<i2").tobytes())
        else:
            chunks.append(read_speech_wav(recording(part)).samples)
    path = tmp_path / "session.wav"
    write_wav(path, AudioChunk(b"".join(chunks), 16_000, 2, 1))
    return str(path)


def test_recorded_commands_change_and_end_a_session(tmp_path, library):
    path = _conversation_with_commands(
        tmp_path, "piper-joe--calm-help.wav", 3.0, "piper-joe--cmd-slower.wav", 4.0,
        "piper-joe--cmd-box.wav", 6.0, "piper-joe--cmd-pause.wav", 3.0,
        "piper-joe--cmd-stop.wav", 20.0)
    result = run_cli("listen", "--input", path, "--text-only")
    assert result.returncode == 0, result.stderr
    b = library.breathing.lines
    said = [line for line in result.stdout.splitlines() if line.startswith("coach:")]
    expected = [b.caution, b.slower, b.switched.format(title="box breathing"), b.paused,
                b.stopped]
    assert said[1:] == [f'coach: "{t}"' for t in expected], result.stdout
    cues = [line for line in result.stdout.splitlines() if line.startswith("cue ")]
    assert 2 <= len(cues) <= 8  # a few cues, then stopped: the 12 rounds never ran


def test_a_recorded_stop_ends_breathing_at_once(tmp_path):
    path = _conversation_with_commands(tmp_path, "festival-kal--calm-help.wav", 6.0,
                                       "festival-kal--cmd-stop.wav", 5.0)
    result = run_cli("listen", "--input", path, "--text-only")
    lines = result.stdout.splitlines()
    stop_at = next(i for i, line in enumerate(lines) if "heard during breathing" in line)
    assert lines[stop_at + 1].startswith('coach: "Okay, we\'ll stop there')
    assert not any(line.startswith("cue ") for line in lines[stop_at:])


def test_breathe_listens_and_a_recorded_stop_ends_it(tmp_path, library):
    path = _conversation_with_commands(tmp_path, 14.0, "piper-joe--cmd-stop.wav", 3.0)
    out = tmp_path / "breathing.wav"
    result = run_cli("breathe", "--pattern", "box", "--input", path, "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "listening:" in result.stderr
    lines = result.stdout.splitlines()
    assert 'heard during breathing: "stop"' in lines, result.stdout
    stop_at = lines.index('heard during breathing: "stop"')
    assert lines[stop_at + 1] == f'coach: "{library.breathing.lines.stopped}"'
    cues = [line for line in lines if line.startswith("cue ")]
    assert cues and all(lines.index(cue) < stop_at for cue in cues)
    # Eight rounds of box breathing last over two minutes; this one ended at the "stop".
    assert 10 < read_wav_info(out).duration < 40


def test_unknown_pattern_is_a_usage_error():
    result = run_cli("breathe", "--pattern", "lion")
    assert result.returncode == 2 and "unknown pattern 'lion'" in result.stderr


def test_phase_dataclass_is_plain_data():
    assert Phase("in", 4.0) == Phase("in", 4.0)


def test_counting_aloud_slower_keeps_the_breath_in_progress(library, matcher):
    clock = VirtualClock()
    session = BreathingSession(library, Speaker(None, SilentSink()), clock, count_aloud=True,
                               listener=Script(clock, [(1.5, "slower")]), matcher=matcher)
    session.cautioned = True
    result = session.run("box", rounds=1)
    dues = [d for d, _ in result.onsets]
    # "Breathe in" at 0 and its counts at 1, 2, 3 go on; "Hold" comes at 4 as planned, and
    # only from there are the counts 20 % apart.
    assert dues[:5] == pytest.approx([0, 1, 2, 3, 4])
    assert dues[5] - dues[4] == pytest.approx(4 * PACE_STEP / 4)


def test_a_change_said_while_paused_also_resumes(library, matcher):
    clock = VirtualClock()
    lines: list[str] = []
    session = BreathingSession(library, Speaker(None, SilentSink()), clock, matcher=matcher,
                               listener=Script(clock, [(2.0, "pause"), (5.0, "slower")]),
                               on_line=lines.append)
    session.cautioned = True
    result = session.run("gentle", rounds=2)
    b = library.breathing.lines
    said = [line for line in lines if line.startswith("coach:")]
    assert said[:3] == [f'coach: "{b.paused}"', f'coach: "{b.resumed}"', f'coach: "{b.slower}"']
    assert result.completed


def test_a_crisis_during_breathing_is_a_turn_like_any_other(library, matcher):
    from intents.coach import Coach
    from voice.loop import Conversation

    lines: list[str] = []
    conversation = Conversation(Coach(library, matcher), Speaker(None, SilentSink()),
                                out=lines.append)
    conversation.hear("help me calm down")
    clock = VirtualClock()
    conversation.run_pending(clock, Script(clock, [(7.0, "she choked me last night")]))
    assert conversation.turns[-1].reply.intent.crisis
    again = conversation.hear("could you repeat that")
    assert again.reply.text == conversation.turns[-2].reply.text  # the hotlines, again


def _pitch(samples: np.ndarray, rate: int) -> float:
    """Frequency from zero crossings: enough for a pure glide."""
    crossings = np.count_nonzero(np.diff(np.signbit(samples)))
    return crossings / 2 / (len(samples) / rate)


@pytest.mark.parametrize(("kind", "rising"), [("in", True), ("top_up", True), ("out", False)])
def test_the_tone_rises_while_breathing_in_and_falls_while_breathing_out(kind, rising):
    from voice.tones import breathing_tone

    tone = breathing_tone(kind, 4.0)
    samples = pcm16(tone).astype(np.float64)
    # The fundamental only: a gentle low-pass keeps the octave above from doubling crossings.
    smooth = np.convolve(samples, np.ones(20) / 20, mode="same")
    quarter = len(smooth) // 4
    first = _pitch(smooth[quarter // 2:quarter], tone.rate)
    last = _pitch(smooth[-quarter:-quarter // 2], tone.rate)
    assert (last > first * 1.05) if rising else (last < first / 1.05), (first, last)


def test_holds_have_no_tone():
    from voice.tones import breathing_tone

    with pytest.raises(ValueError, match="hold"):
        breathing_tone("hold", 4.0)
