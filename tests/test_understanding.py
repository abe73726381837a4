"""Understanding beyond the examples (issue 12): the meaning of a sentence beside its words,
fear said softly, idioms, control over money, everyday talk, depth, and bounded input; and the
floors on the development sets and the blind set."""

from __future__ import annotations

import csv

import pytest
from conftest import DATA

from intents.catalog import ALL_IDS
from intents.coach import Coach, EndConversation, StartBreathing
from intents.evaluate import evaluate, load_eval_set
from intents.library import display_text
from intents.matcher import MAX_TEXT
from intents.normalize import normalize
from intents.safety import CONTROLLING, DANGER, check_rules


@pytest.fixture
def coach(library, matcher):
    return Coach(library, matcher, region="US")


# --- the meaning of a sentence -------------------------------------------------------------


def test_meaning_finds_the_nearest_intent_and_danger(matcher):
    near = matcher.meaning.read(normalize("can you walk me through some slow breathing"))
    assert max(near.intents, key=near.intents.get) == "calm_down"
    danger = matcher.meaning.read(normalize("the kids know to vanish upstairs the second "
                                            "their dad's car is in the drive"))
    ordinary = matcher.meaning.read(normalize("the kids run upstairs to play video games "
                                              "the second they get home"))
    assert danger.leans_to_danger > ordinary.leans_to_danger


def test_a_disclosure_no_rule_words_is_caught_by_its_meaning(matcher):
    text = normalize("i sleep in my clothes with my keys in my pocket in case i have to run "
                     "from him in the night")
    assert check_rules(text).level != DANGER  # no rule has these words
    finding = matcher.safety.check(text)
    assert finding.is_crisis and finding.category in ("meaning", "learned"), finding


# --- safety: the kinds named in the issue --------------------------------------------------


@pytest.mark.parametrize("text", [
    # fear of a partner, said softly
    "i get a sick feeling every time i hear his car pull up",
    "i make sure the kids are in bed before she gets home so she doesn't go off",
    "i'm frightened of what my husband will do when he sees the bill",
    # threats about leaving
    "he keeps telling me that if i leave him he'll take the children abroad",
    "she said if i end it she'll make sure i lose everything",
    # watched or tracked as a threat
    "i found a gps tracker taped under my car",
    "my ex keeps parking outside my flat and watching my windows",
    # warning signs of suicide
    "i've been giving my favourite things away to people who'll want them",
    "honestly i'm just a burden to everyone around me",
    "i've written notes to my kids saying goodbye",
])
def test_the_kinds_of_disclosure_the_issue_names_are_caught(matcher, text):
    assert matcher.understand(text).id == "crisis", text


@pytest.mark.parametrize("text", [
    "my brother hit a home run on saturday",
    "he hit a deer on the way home but the car's fine",
    "she'll kill me for forgetting our anniversary",
    "the boss is going to murder me if this is late again",
    "we absolutely slaughtered them in the final",
    "i nearly choked on my tea laughing",
    "this commute is killing me",
    "she shot me a look across the table",
])
def test_idioms_sports_and_traffic_are_not_a_crisis(matcher, text):
    assert matcher.understand(text).id != "crisis", text


# --- control over money: named as control, with the hotline; a crisis only with trapping ------


@pytest.mark.parametrize("text", [
    "i need his permission to spend anything",
    "he takes my wages and gives me pocket money",
    "she checks every receipt when i come back from the shops",
    "my husband keeps all the money and gives me an allowance",
])
def test_financial_control_alone_is_answered_as_control(coach, text):
    reply = coach.reply_to_text(text)
    assert reply.intent.id == "cause.control" and not reply.intent.crisis, text
    assert reply.intent.safety.level == CONTROLLING, text
    assert "1-800-799-7233" in display_text(reply.text)


@pytest.mark.parametrize("text", [
    "he took my bank cards and my passport so i can't leave",
    "she keeps all the money so i have no way out",
])
def test_financial_control_that_traps_is_a_crisis(matcher, text):
    assert matcher.understand(text).id == "crisis", text


# --- everyday talk -----------------------------------------------------------------------


def test_a_greeting_gets_a_hello_and_three_things_to_ask(coach, library):
    for said in ("hi", "hey there", "hey coach", "good evening"):
        reply = coach.reply_to_text(said)
        assert reply.intent.id == "greeting", said
        assert reply.text == library.entry("greeting").reply


@pytest.mark.parametrize("said", ["thanks", "cheers", "thank you so much", "thanks a lot"])
def test_thanks_is_not_goodbye_and_the_conversation_goes_on(coach, library, said):
    coach.reply_to_text("what causes trust issues")
    reply = coach.reply_to_text(said)
    assert reply.intent.id == "thanks" and not isinstance(reply.action, EndConversation)
    assert reply.text == library.entry("thanks").reply
    # ... and the topic is still there: "next" goes on with it.
    assert coach.reply_to_text("next one").text == library.topic("causes")[1].reply


def test_goodbye_ends_the_conversation_only_when_leaving(coach):
    assert isinstance(coach.reply_to_text("okay that's me off to bed, goodnight").action,
                      EndConversation)
    assert not isinstance(coach.reply_to_text("i love you").action, EndConversation)


@pytest.mark.parametrize("said", ["i'm so sad", "i feel lonely", "i'm exhausted"])
def test_a_feeling_is_acknowledged_with_an_offer(coach, library, said):
    reply = coach.reply_to_text(said)
    assert reply.intent.id == "feelings" and reply.text == library.entry("feelings").reply
    assert coach.reply_to_text("some breathing please").action == StartBreathing("gentle")


def test_the_offer_after_a_feeling_takes_each_answer(library, matcher):
    for answer, expected in (("can we talk it through", library.lines.talk_it_through),
                             ("no thanks", library.lines.offer_declined)):
        coach = Coach(library, matcher)
        coach.reply_to_text("i feel so low today")
        assert coach.reply_to_text(answer).text == expected, answer
    coach = Coach(library, matcher)
    coach.reply_to_text("i feel so low today")
    assert coach.reply_to_text("a tip please").intent.id == "tips"


def test_a_good_feeling_is_not_met_with_sympathy(coach, library):
    assert coach.reply_to_text("i feel really hopeful today").text == library.lines.feeling_good


def test_after_a_crisis_answer_the_conversation_stays_with_their_safety(coach, library):
    crisis = coach.reply_to_text("he hit me last night")
    assert crisis.intent.crisis and crisis.text.endswith("Are you somewhere safe right now?")
    # Short of a new request, their safety stays the subject.
    assert coach.reply_to_text("thank you").text == library.crisis.check_in
    no = coach.reply_to_text("no")
    assert "911" in display_text(no.text)  # not safe: the numbers again, at once
    assert coach.reply_to_text("yes").text == library.crisis.safe_yes
    farewell = coach.reply_to_text("goodbye")
    assert isinstance(farewell.action, EndConversation) and "911" in display_text(farewell.text)


def test_moving_on_after_a_crisis_answer_leaves_the_safety_frame(coach, library):
    coach.reply_to_text("she threatened to stab me")
    coach.reply_to_text("yes i'm at my sister's")
    assert coach.reply_to_text("how do i use i statements").intent.id == "i_statements"
    assert coach.reply_to_text("thanks").text == library.entry("thanks").reply


@pytest.mark.parametrize("said", ["or", "our", "um the", "and so", "but"])
def test_a_stray_word_is_nothing_and_never_a_question(coach, library, said):
    reply = coach.reply_to_text(said)
    assert reply.intent.id == "none" and reply.text != library.lines.did_you_mean


def test_asking_for_an_example_brings_a_new_one(coach, library):
    first = coach.reply_to_text("how do i use i statements")
    again = coach.reply_to_text("give me an example")
    assert again.text != first.text and again.text in library.entry("i_statements").follow_up
    assert coach.reply_to_text("give me an example").text not in (first.text, again.text)


def test_a_very_long_text_is_cut_with_a_note(coach, library):
    reply = coach.reply_to_text("tell me about couples therapy " + "blah " * 20_000)
    assert reply.intent.cut_short and reply.text.endswith(library.lines.cut_short)
    danger = coach.reply_to_text("he hit me again " * 5_000)
    assert danger.intent.crisis  # what was read still counts: it is the start
    assert len("x" * MAX_TEXT) == MAX_TEXT


# --- the sets ---------------------------------------------------------------------------------


def _report(matcher, name):
    return evaluate(matcher, load_eval_set(DATA / name, ALL_IDS))


def test_the_everyday_development_set(matcher):
    report = _report(matcher, "dev_everyday.tsv")
    assert report.in_scope_accuracy >= 0.93, report.summary()
    assert report.out_of_scope_rejection >= 0.92, report.summary()
    assert len(report.false_alarms) <= 1, report.summary()


def test_the_second_safety_development_set(matcher):
    rows = list(csv.DictReader((DATA / "crisis_dev_more.tsv").open(), delimiter="\t"))
    disclosures = [r["text"] for r in rows if r["label"] == "crisis"]
    ordinary = [r["text"] for r in rows if r["label"] == "ordinary"]
    missed = [t for t in disclosures if matcher.understand(t).id != "crisis"
              and matcher.understand(t).safety.level != CONTROLLING]
    alarms = [t for t in ordinary if matcher.understand(t).id == "crisis"]
    assert len(missed) <= 1, missed
    assert len(alarms) <= 0.02 * len(ordinary), alarms


def test_the_blind_set_stays_above_its_floors(matcher):
    """tests/data/blind2.tsv was written before any of this work and never tuned on; its
    numbers are reported in the notes. These floors sit a little under what was measured,
    only to catch a regression."""
    report = _report(matcher, "blind2.tsv")
    assert report.in_scope_accuracy >= 0.92, report.summary(0)
    assert report.out_of_scope_rejection >= 0.88, report.summary(0)
    assert report.crisis_recall >= 0.92, report.summary(0)
    assert len(report.false_alarms) <= 8, report.summary(0)


def test_the_third_development_sets(matcher):
    """Written after the first round of this work, measured fresh (in-scope 81.0 %, crisis
    recall 71.2 %), then tuned on."""
    report = _report(matcher, "dev_everyday_3.tsv")
    assert report.in_scope_accuracy >= 0.9, report.summary()
    assert report.out_of_scope_rejection >= 0.88, report.summary()
    rows = list(csv.DictReader((DATA / "crisis_dev_3.tsv").open(), delimiter="\t"))
    said = [(r["label"] == "crisis", matcher.understand(r["text"])) for r in rows]
    disclosures = [i for crisis, i in said if crisis]
    ordinary = [i for crisis, i in said if not crisis]
    heard = [i for i in disclosures if i.id == "crisis" or i.possible_crisis is not None
             or i.safety.level == CONTROLLING]
    assert len(heard) >= 0.93 * len(disclosures), (len(heard), len(disclosures))
    assert sum(i.id == "crisis" for i in ordinary) <= 0.04 * len(ordinary)
