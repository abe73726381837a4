"""The conflict time-out: the explanation, the offer, the timer on disk, the gentle restart."""

from __future__ import annotations

import json

import pytest
from conftest import local_executor, run_cli

from common.transcript import typed
from intents.coach import Coach, StartBreathing, StartTimer
from voice.timers import TimerBook


class Now:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_time_out_explains_then_offers_a_timer(library, matcher):
    coach = Coach(library, matcher)
    reply = coach.reply_to_text("we're shouting at each other we need a break")
    assert reply.intent.id == "time_out"
    assert reply.text.startswith(library.entry("time_out").reply)
    assert reply.text.endswith("Shall I call you back in 20 minutes?")
    yes = coach.reply_to_text("yes please")
    assert yes.action == StartTimer(20)


@pytest.mark.parametrize(("answer", "minutes"), [("make it half an hour", 30),
                                                 ("forty five minutes", 45),
                                                 ("ten minutes", 10),
                                                 ("an hour and a half", 90),
                                                 ("one and a half hours", 90),
                                                 ("one hour fifteen minutes", 75),
                                                 ("three quarters of an hour", 45),
                                                 ("a hundred and twenty minutes", 120),
                                                 ("two hours", 120)])
def test_any_length_from_ten_to_a_hundred_and_twenty_minutes(library, matcher, answer, minutes):
    coach = Coach(library, matcher)
    coach.reply_to_text("we need a time out")
    assert coach.reply_to_text(answer).action == StartTimer(minutes)


def test_out_of_range_is_asked_again(library, matcher):
    coach = Coach(library, matcher)
    coach.reply_to_text("we need a time out")
    assert coach.reply_to_text("five minutes").text == library.timeout.out_of_range
    assert coach.reply_to_text("twenty five minutes").action == StartTimer(25)


def test_longer_than_two_hours_is_asked_again(library, matcher):
    coach = Coach(library, matcher)
    coach.reply_to_text("we need a time out")
    assert coach.reply_to_text("two hours and a half").text == library.timeout.out_of_range


def test_the_timer_survives_a_restart_and_rings(tmp_path, library, matcher):
    now = Now()
    book = TimerBook(tmp_path, now=now)
    book.start(20)
    again = TimerBook(tmp_path, now=now)  # the program restarted
    assert again.active.minutes == 20
    now.t += 19 * 60
    assert again.take_due() is None and again.seconds_left() == pytest.approx(60)
    now.t += 61
    lines: list[str] = []
    executor = local_executor(library, matcher, out=lines.append, timers=again)
    executor.check_timers()
    assert lines[-1] == (f'coach: "Your 20 minute break is up. '
                         f'{library.timeout.restart_offer}"')
    assert TimerBook(tmp_path, now=now).active is None  # rung once, then gone
    # The next answer picks the restart: a minute of breathing, or a gentle way to talk.
    reply = executor.conversation.coach.reply_to_text("a minute of breathing first")
    assert reply.action == StartBreathing("gentle", 6)


def test_a_gentle_restart_offers_words_to_start_with(library, matcher):
    coach = Coach(library, matcher)
    coach.timer_finished(20)
    assert coach.reply_to_text("an easy way to start talking").text == library.timeout.gentle_start


def test_cancel_by_voice(tmp_path, library, matcher):
    lines: list[str] = []
    book = TimerBook(tmp_path, now=Now())
    executor = local_executor(library, matcher, out=lines.append, timers=book)
    executor.hear(typed("we need a time out"))
    executor.hear(typed("yes"))
    assert book.active is not None
    executor.hear(typed("cancel the timer"))
    assert book.active is None and library.timeout.cancelled in lines[-1]
    executor.hear(typed("cancel the timer"))
    assert library.timeout.no_timer in lines[-1]


def test_a_broken_timer_file_is_set_aside_with_one_line(tmp_path):
    (tmp_path / "timers.json").write_text("{ not json")
    said: list[str] = []
    book = TimerBook(tmp_path, now=Now(), report=said.append)
    assert book.active is None
    assert len(said) == 1 and "timers.json" in said[0] and "kept as" in said[0]
    kept = list(tmp_path.glob("timers.json.broken-*"))
    assert kept and kept[0].read_text() == "{ not json"  # nothing is lost


def test_timers_outside_the_range_are_refused(tmp_path):
    book = TimerBook(tmp_path, now=Now())
    with pytest.raises(ValueError):
        book.start(5)
    with pytest.raises(ValueError):
        book.start(121)


def test_command_line_timers_across_runs(tmp_path):
    env = {"TRUST_COACH_STATE": str(tmp_path)}
    run_cli("chat", stdin="we need a time out\nyes\n", env=env)
    shown = run_cli("timers", env=env)
    assert shown.stdout.startswith("20 minute break: ")
    # Pretend the program was off while the break ran out.
    data = json.loads((tmp_path / "timers.json").read_text())
    data["timer"]["due"] -= 21 * 60
    (tmp_path / "timers.json").write_text(json.dumps(data))
    started = run_cli("chat", stdin="", env=env)
    assert "While I was switched off, your 20 minute break timer ended." in started.stdout
    assert run_cli("timers", env=env).stdout.strip() == "no timer running"


def test_a_crisis_cancels_the_break_timer(tmp_path, library, matcher):
    book = TimerBook(tmp_path, now=Now())
    executor = local_executor(library, matcher, timers=book)
    executor.hear(typed("we need a time out"))
    executor.hear(typed("yes"))
    assert book.active is not None
    executor.hear(typed("he just threatened to kill me"))
    assert book.active is None  # no "time to restart the conversation" call later


def test_a_timer_file_that_cannot_be_written_is_one_line_and_the_talk_goes_on(tmp_path,
                                                                              library,
                                                                              matcher):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the state folder should be")
    said: list[str] = []
    book = TimerBook(blocked, now=Now(), report=said.append)
    executor = local_executor(library, matcher, timers=book, report=said.append)
    executor.hear(typed("we need a time out"))
    executor.hear(typed("yes"))
    assert book.active is not None  # kept in memory
    assert len(said) == 1 and str(blocked) in said[0]
