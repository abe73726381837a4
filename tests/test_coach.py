"""The conversation: topics, follow-ups, repeats, questions, safety, endings."""

from __future__ import annotations

import pytest

from intents.coach import (
    ChangeRate,
    Coach,
    EndCoaching,
    EndConversation,
    StartBreathing,
    StartTimer,
)
from intents.exercise import Finished
from intents.library import display_text
from intents.matcher import Intent


@pytest.fixture
def coach(library, matcher):
    return Coach(library, matcher, region="US")


def test_greeting_carries_the_disclaimer_once(coach, library):
    greeting = coach.greet()
    assert library.lines.disclaimer in greeting
    assert "not a therapist" in greeting and "not an emergency service" in greeting
    assert library.lines.disclaimer not in coach.reply_to_text("give me a tip").text


def test_repeat_says_the_last_answer_again(coach, library):
    assert coach.reply_to_text("say that again").text == library.entry("repeat").reply
    first = coach.reply_to_text("what causes trust issues")
    assert coach.reply_to_text("could you repeat that").text == first.text
    assert coach.reply_to_text("pardon me what was that last part").text == first.text


def test_tell_me_more_walks_the_follow_ups_then_says_so(coach, library):
    entry = library.entry("cause.lies")
    assert coach.reply_to_text("he lies to me about little things").text == entry.reply
    for line in entry.follow_up:
        assert coach.reply_to_text("tell me more").text == line
    assert coach.reply_to_text("tell me more").text == library.lines.end_of_topic.format(
        title=entry.title)


def test_next_moves_to_the_next_item_in_the_topic(coach, library):
    causes = library.topic("causes")
    assert coach.reply_to_text("what causes trust issues").text == causes[0].reply
    assert coach.reply_to_text("next one").text == causes[1].reply
    assert coach.reply_to_text("next one").text == causes[2].reply


def test_next_without_a_topic_offers_a_start(coach, library):
    assert coach.reply_to_text("next one").text == library.entry("next").reply


def test_tips_rotate_without_repeating_until_all_are_heard(coach, library):
    tips = [e for e in library.topic("tips") if e.id != "tips"]
    heard = [coach.reply_to_text("give me a tip").text for _ in tips]
    lead = library.entry("tips").reply
    assert [h.replace(lead, "").strip() for h in heard] == [t.reply for t in tips]
    again = coach.reply_to_text("give me a tip").text
    assert again.startswith(library.lines.tip_rotation_done)


def test_not_understood_twice_is_worded_differently(coach, library):
    first = coach.reply_to_text("what's the capital of peru").text
    second = coach.reply_to_text("play some jazz in the kitchen").text
    assert [first, second] == list(library.lines.not_understood)
    assert "help" in first and "help" in second
    coach.reply_to_text("give me a tip")
    assert coach.reply_to_text("turn the lights off").text == library.lines.not_understood[0]


def _ambiguous(first: str, second: str) -> Intent:
    return Intent(first, 0.7, alternatives=((second, 0.69),), text="something in between")


def test_did_you_mean_and_the_answers_it_accepts(coach, library):
    question = coach.reply_to(_ambiguous("cause.lies", "cause.secrecy"))
    assert question.text == library.lines.did_you_mean.format(
        first=library.title("cause.lies"), second=library.title("cause.secrecy"))
    assert coach.reply_to_text("yes").text == library.entry("cause.lies").reply

    coach.reply_to(_ambiguous("cause.lies", "cause.secrecy"))
    assert coach.reply_to_text("the second one").text == library.entry("cause.secrecy").reply

    coach.reply_to(_ambiguous("impact.jealousy", "impact.suspicion"))
    assert coach.reply_to_text("no").text == library.entry("impact.suspicion").reply


def test_a_request_between_two_topics_is_asked_about(coach, library):
    """The real matcher: the request sits between the tip and the cause, and the answer may
    name an option by words from its title."""
    question = coach.reply_to_text("we need to actually talk to each other how do we do that")
    assert question.text == library.lines.did_you_mean.format(
        first=library.title("impact.communication"), second=library.title("tip.communication"))
    answer = coach.reply_to_text("talking openly")
    assert answer.text == library.entry("tip.communication").reply
    # A short follow-up continues the topic.
    assert coach.reply_to_text("why").text == library.entry("tip.communication").follow_up[0]


def test_a_clear_request_is_answered_without_a_question(coach, library):
    assert coach.reply_to_text("how do i use i statements").text == library.entry(
        "i_statements").reply


def test_an_unclear_answer_is_asked_once_more_then_dropped(coach, library):
    coach.reply_to(_ambiguous("cause.lies", "cause.secrecy"))
    retry = coach.reply_to_text("blah blah blah")
    assert retry.text == library.lines.did_you_mean_retry.format(
        first=library.title("cause.lies"), second=library.title("cause.secrecy"))
    # Something else entirely is answered as a new request.
    assert coach.reply_to_text("help me calm down").intent.id == "calm_down"


@pytest.mark.parametrize("region", ["US", "UK", "IE", "CA", "AU", "NZ", "EU"])
def test_crisis_stops_everything_and_gives_the_regions_numbers(library, matcher, region):
    coach = Coach(library, matcher, region=region)
    coach.reply_to_text("what causes trust issues")
    reply = coach.reply_to_text("he hit me last night")
    assert reply.intent.crisis and isinstance(reply.action, EndCoaching)
    text = display_text(reply.text)
    assert display_text(library.regions[region].emergency) in text
    for hotline in library.regions[region].hotlines:
        assert display_text(hotline) in text
    # The coaching stopped: "tell me more" has no topic to go on with.
    assert coach.reply_to_text("tell me more").text == library.entry("next").reply
    again = coach.reply_to_text("i don't want to live anymore")
    assert again.text == library.crisis_reply(region, again=True)


def test_coercive_control_is_named_with_the_hotline(coach, library):
    reply = coach.reply_to_text("my husband checks my phone every night")
    assert reply.intent.id == "cause.control" and not reply.intent.crisis
    assert reply.text.startswith(library.lines.coercive_control)
    assert "1-800-799-7233" in display_text(reply.text)
    assert "therap" not in reply.text.lower()


def test_actions_for_the_loop(coach):
    assert coach.reply_to_text("help me calm down").action == StartBreathing("gentle")
    assert coach.reply_to_text("can we do some box breathing").action == StartBreathing("box")
    assert isinstance(coach.reply_to_text("speak more slowly please").action, ChangeRate)
    assert coach.reply_to_text("speak more slowly please").action.factor < 1
    assert coach.reply_to_text("a bit faster if you can").action.factor > 1
    assert isinstance(coach.reply_to_text("goodbye for tonight").action, EndConversation)


def test_unknown_region_is_a_usage_error(library, matcher):
    from common.errors import UsageError

    with pytest.raises(UsageError, match="unknown region 'XX'"):
        Coach(library, matcher, region="XX")


def test_controlling_behaviour_is_never_taken_as_an_answer(coach, library):
    coach.reply_to(_ambiguous("cause.lies", "cause.secrecy"))
    reply = coach.reply_to_text("he reads all my messages every one of them")
    assert reply.text.startswith(library.lines.coercive_control)
    coach.breathing_ended(Finished("gentle", completed=True, ended_by=""))
    reply = coach.reply_to_text("i feel worse he checks my phone every night")
    assert reply.text.startswith(library.lines.coercive_control)


@pytest.mark.parametrize(("answer", "better"), [
    ("much better thanks", True), ("calmer", True), ("i am not okay", False),
    ("i do not feel better", False), ("honestly not fine", False), ("still angry", False)])
def test_how_are_you_feeling_hears_a_no(coach, library, answer, better):
    coach.breathing_ended(Finished("gentle", completed=True, ended_by=""))
    expected = library.breathing.lines.feeling_better if better else \
        library.breathing.lines.feeling_worse
    assert coach.reply_to_text(answer).text == expected


def test_stop_the_timer_is_worded_by_the_coach_and_can_be_repeated(library, matcher):
    running = [True]
    coach = Coach(library, matcher, timer_running=lambda: running[0])
    assert coach.reply_to_text("stop the timer").text == library.timeout.cancelled
    assert coach.reply_to_text("say that again").text == library.timeout.cancelled
    running[0] = False
    assert coach.reply_to_text("cancel the timer").text == library.timeout.no_timer


MISHEARD = ("what causes trust issues", ["he choked me last night"])


def test_a_disclosure_heard_only_in_another_reading_is_asked_about_first(library, matcher):
    coach = Coach(library, matcher)
    asked = coach.reply_to_text(*MISHEARD)
    assert asked.text == library.lines.safety_check and asked.action is None
    assert asked.intent.id == "causes" and asked.intent.possible_crisis.text == MISHEARD[1][0]
    yes = coach.reply_to_text("yes")
    assert yes.intent.crisis and isinstance(yes.action, EndCoaching)
    assert yes.text == library.crisis_reply("US")
    assert yes.intent.text == "he choked me last night"


def test_no_to_the_safety_question_answers_what_was_asked(library, matcher):
    coach = Coach(library, matcher)
    coach.reply_to_text(*MISHEARD)
    no = coach.reply_to_text("no")
    plain = Coach(library, matcher).reply_to_text(MISHEARD[0])
    assert no.intent.id == "causes" and no.intent.possible_crisis is None
    assert no.text == f"{library.lines.safety_check_declined} {plain.text}"


def test_after_the_safety_question_anything_else_is_a_new_request_and_danger_still_wins(
        library, matcher):
    coach = Coach(library, matcher)
    coach.reply_to_text(*MISHEARD)
    assert coach.reply_to_text("give me a tip").intent.id == "tips"
    coach.reply_to_text(*MISHEARD)
    assert coach.reply_to_text("he hits me when he drinks").intent.crisis
    coach = Coach(library, matcher)
    heard_plainly = coach.reply_to_text("he choked me last night", ["he joked with me last night"])
    assert heard_plainly.intent.crisis  # said plainly: no question, the crisis answer at once


def test_the_safety_question_comes_before_answering_a_question_of_ours(library, matcher):
    coach = Coach(library, matcher)
    coach.reply_to_text("we need a time out")  # offers a break timer and waits for the answer
    asked = coach.reply_to_text("yes", ["he choked me"])
    assert asked.text == library.lines.safety_check and asked.action is None
    no = coach.reply_to_text("no", ["no he choked me"])  # our question is answered, not asked again
    assert no.text.startswith(library.lines.safety_check_declined)
    # ... and the "yes" it had heard answers the break offer it interrupted.
    assert isinstance(no.action, StartTimer) and no.action.minutes == 20
