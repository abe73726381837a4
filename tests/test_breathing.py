"""Guided breathing: the schedule (exactly), the exercise on a virtual clock through the same
executor the front ends use, a real-time round, rendered WAV files, and spoken commands recorded
during an exercise."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import breathe_along, joined_recording, local_executor, run_cli

from common.transcript import typed
from intents.breathing import PACE_STEP, Phase, rounds_for, schedule
from voice.clock import MonotonicClock, SinkClock, VirtualClock
from voice.convert import pcm16
from voice.tts import GAP_BETWEEN_REPLIES, EspeakSynthesizer, Speaker, WavFileSink
from voice.wav import read_speech_wav, read_wav_info

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


# --- exercises on an injected clock ------------------------------------------------------------


def test_a_five_minute_session_runs_in_milliseconds_on_time(library, matcher):
    clock = VirtualClock()
    lines: list[str] = []
    executor = local_executor(library, matcher, clock=clock, out=lines.append)
    started = time.perf_counter()
    executor.start_exercise("resonance", rounds=28)  # 28 x 11 s = 5 min 8 s
    breathe_along(executor, clock)
    assert time.perf_counter() - started < 0.5
    assert len(executor.onsets) == 56
    assert all(onset.due == onset.actual for onset in executor.onsets)
    assert clock.now() == pytest.approx(28 * 11)
    assert lines[0] == f'coach: "{library.breathing.lines.caution}"'
    assert lines[-1] == f'coach: "{library.breathing.lines.closing}"'


def test_the_caution_is_said_once_per_session(library, matcher):
    clock = VirtualClock()
    lines: list[str] = []
    executor = local_executor(library, matcher, clock=clock, out=lines.append)
    for _ in range(2):
        executor.start_exercise("gentle", rounds=1)
        breathe_along(executor, clock)
    assert sum(library.breathing.lines.caution in line for line in lines) == 1


def test_commands_change_the_session(library, matcher):
    clock = VirtualClock()
    lines: list[str] = []
    executor = local_executor(library, matcher, clock=clock, out=lines.append)
    executor.start_exercise("gentle")
    breathe_along(executor, clock, [(5.0, "slower"), (20.0, "pause"), (25.0, "resume"),
                               (31.0, "switch to box breathing"), (40.0, "stop")])
    said = [line for line in lines if line.startswith("coach:")]
    b = library.breathing.lines
    assert said[1:] == [f'coach: "{t}"' for t in (
        b.slower, b.paused, b.resumed, b.switched.format(title="box breathing"), b.stopped)]
    assert [line for line in lines if line.startswith("heard during breathing")] == [
        f'heard during breathing: "{t}"' for t in ("slower", "pause", "resume",
                                                   "switch to box breathing", "stop")]
    assert executor.conversation.coach.state.exercise is None
    # After "slower" (at 5 s, during the first out-breath) phases are 20 % longer.
    dues = [onset.due for onset in executor.onsets]
    assert dues[1] - dues[0] == pytest.approx(4.0)
    assert dues[3] - dues[2] == pytest.approx(4 * PACE_STEP)
    # Nothing was cued while paused (20 s to 25 s), and nothing after the stop.
    assert not [d for d in dues if 20.0 < d < 25.0]
    assert max(dues) < 40.0


def test_a_crisis_during_breathing_is_a_turn_like_any_other(library, matcher):
    clock = VirtualClock()
    lines: list[str] = []
    executor = local_executor(library, matcher, clock=clock, out=lines.append)
    executor.hear(typed("help me calm down"))
    breathe_along(executor, clock, [(7.0, "she choked me last night")])
    turn = [line for line in lines if line.startswith("heard:")][-1]
    assert "| intent: crisis" in turn and "911" in turn
    assert library.breathing.lines.stopped not in "".join(lines)  # no "we'll stop there"
    assert max(onset.due for onset in executor.onsets) < 7.0  # the exercise ended there
    again = executor.hear(typed("could you repeat that"))
    assert again.reply.text == library.crisis_reply("US")  # the hotlines, again


def test_controlling_behaviour_described_during_breathing_is_answered(library, matcher):
    clock = VirtualClock()
    lines: list[str] = []
    executor = local_executor(library, matcher, clock=clock, out=lines.append)
    executor.start_exercise("gentle")
    breathe_along(executor, clock, [(9.0, "he checks my phone every single night")])
    turn = [line for line in lines if line.startswith("heard:")][-1]
    assert "| intent: cause.control" in turn and "1-800-799-7233" in turn
    assert max(onset.due for onset in executor.onsets) < 9.0  # the exercise gave way to it


def test_a_runner_up_disclosure_during_breathing_pauses_it_and_asks(library, matcher):
    """The recogniser's best reading is a command, its runner-up a disclosure: the exercise
    pauses, the coach asks, and the answer decides."""
    from common.transcript import Transcript

    for answer, crisis in (("yes", True), ("no", False)):
        clock = VirtualClock()
        lines: list[str] = []
        executor = local_executor(library, matcher, clock=clock, out=lines.append)
        executor.start_exercise("gentle")
        clock.sleep_until(7.0)
        executor.tick(clock.now())
        asked = executor.hear(Transcript("slower", 0.5, engine="pocketsphinx",
                                         alternatives=("he choked me",)))
        assert asked.reply.text == library.lines.safety_check
        clock.sleep_until(30.0)
        executor.tick(clock.now())
        assert max(onset.due for onset in executor.onsets) < 7.0  # paused while we ask
        reply = executor.hear(typed(answer)).reply
        assert reply.intent.crisis is crisis
        if crisis:
            assert not executor.exercise_running and "911" in reply.text
        else:  # thanked, then what was heard is done: slower, and the breathing goes on
            assert reply.text == library.lines.safety_check_declined
            assert f'coach: "{library.breathing.lines.slower}"' in lines
            breathe_along(executor, clock)
            assert max(onset.due for onset in executor.onsets) > 30.0


def test_a_long_cue_is_shortened_not_the_phase(library, matcher, tmp_path):
    from dataclasses import replace

    from intents.breathing import Pattern
    from intents.library import sentences

    quick = Pattern("quick", "quick breathing", (Phase("in", 1.5), Phase("out", 1.5)), 3)
    content = replace(library.breathing, patterns={**library.breathing.patterns, "quick": quick})
    synthesizer = EspeakSynthesizer(rate=90)  # very slow speech: "And out, slowly" runs long
    assert synthesizer.synthesize("And out, slowly").duration > 1.5
    sink = WavFileSink(tmp_path / "quick.wav")
    clock = SinkClock(sink)
    executor = local_executor(replace(library, breathing=content), matcher, clock=clock,
                              speaker=Speaker(synthesizer, sink))
    executor.start_exercise("quick")
    breathe_along(executor, clock)
    dues = [onset.due for onset in executor.onsets]
    assert np.diff(dues) == pytest.approx([1.5] * 5)  # the phases kept their length
    caution = len(sentences(library.breathing.lines.caution))  # played sentence by sentence
    cue_onsets = sink.onsets[caution:caution + 6]
    assert cue_onsets == pytest.approx(dues, abs=1e-3)  # and the file keeps them
    closing_at = sink.onsets[caution + 6]  # after the last phase, and the pause before a reply
    assert closing_at == pytest.approx(dues[-1] + 1.5 + GAP_BETWEEN_REPLIES, abs=1e-3)
    sink.close()


def test_a_pause_that_is_never_resumed_ends_the_exercise(library):
    from intents.exercise import PAUSE_LIMIT, BreathingExercise, Finished, Pause, SayLine

    exercise = BreathingExercise(library.breathing, "gentle", caution=False)
    exercise.on_tick(0.0)
    exercise.on_command(Pause(), 2.0)
    assert exercise.next_due() == 2.0 + PAUSE_LIMIT
    assert exercise.on_tick(100.0) == []
    events = exercise.on_tick(2.0 + PAUSE_LIMIT)
    assert events == [SayLine(library.breathing.lines.stopped),
                      Finished("gentle", completed=False, ended_by="pause timeout")]


def test_an_exercise_says_what_it_will_do_before_any_cue(library):
    from intents.exercise import BreathingExercise, PlanChanged, PlayCue

    exercise = BreathingExercise(library.breathing, "4-7-8", caution=True)
    assert [line.text for line in exercise.opening()] == [
        library.breathing.lines.caution, library.breathing.patterns["4-7-8"].caution]
    first = exercise.on_tick(10.0)  # the plan starts once those lines are said
    assert isinstance(first[0], PlanChanged) and first[0].upcoming[0][0] == 10.0
    assert isinstance(first[1], PlayCue) and first[1].due == 10.0


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
    # espeak-ng: its speech ends in a little silence, so the first cue's onset stands apart
    # from the opening lines (Piper's ends at once, and the first cue follows without a gap).
    args = ["breathe", "--pattern", "box", "--rounds", "2", "--output", str(out),
            "--voice", "en-us"]
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
def test_one_real_round_keeps_wall_clock_time(library, matcher, tmp_path):
    sink = WavFileSink(tmp_path / "live.wav", pace=True)  # plays at the speed of a speaker
    clock = MonotonicClock()
    executor = local_executor(library, matcher, clock=clock,
                              speaker=Speaker(EspeakSynthesizer(), sink))
    executor.conversation.exercise_started("gentle")  # the caution was said before
    started = time.monotonic()
    executor.start_exercise("gentle", rounds=1)
    breathe_along(executor, clock)
    errors = [onset.actual - onset.due for onset in executor.onsets]
    assert len(errors) == 2 and max(abs(e) for e in errors) < 0.02
    assert executor.onsets[0].due - started < 0.1
    assert time.monotonic() - started == pytest.approx(10.0 + 2.5, abs=2.5)  # + closing line


# --- spoken commands recorded during a session --------------------------------------------------


def _conversation_with_commands(tmp_path, *parts) -> str:
    return joined_recording(tmp_path / "session.wav", *parts, seed=5)


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
    path = _conversation_with_commands(tmp_path, "espeak-us--calm-help.wav", 6.0,
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
    executor = local_executor(library, matcher, clock=clock, count_aloud=True)
    executor.start_exercise("box", rounds=1)
    breathe_along(executor, clock, [(1.5, "slower")])
    dues = [onset.due for onset in executor.onsets]
    # "Breathe in" at 0 and its counts at 1, 2, 3 go on; "Hold" comes at 4 as planned, and
    # only from there are the counts 20 % apart.
    assert dues[:5] == pytest.approx([0, 1, 2, 3, 4])
    assert dues[5] - dues[4] == pytest.approx(4 * PACE_STEP / 4)


def test_a_change_said_while_paused_also_resumes(library, matcher):
    clock = VirtualClock()
    lines: list[str] = []
    executor = local_executor(library, matcher, clock=clock, out=lines.append)
    executor.conversation.exercise_started("gentle")  # the caution was said before
    executor.start_exercise("gentle", rounds=2)
    breathe_along(executor, clock, [(2.0, "pause"), (5.0, "slower")])
    b = library.breathing.lines
    said = [line for line in lines if line.startswith("coach:")]
    assert said == [f'coach: "{t}"' for t in (b.paused, b.resumed, b.slower, b.closing)]
    dues = [onset.due for onset in executor.onsets]
    # Paused during the first breath in: it carries on from the breath out, at once (5 s) and
    # at the slower pace: 7.2 s out, then 4.8 s in.
    assert dues[1] == 5.0
    assert np.diff(dues[1:]) == pytest.approx([6 * PACE_STEP, 4 * PACE_STEP])


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
