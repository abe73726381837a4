"""The safety check: every disclosure is caught, ordinary talk is left alone."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from intents.normalize import normalize
from intents.safety import CONTROLLING, DANGER, SAFE, check_rules

DATA = Path(__file__).parent / "data"


def level(text: str) -> str:
    return check_rules(normalize(text)).level


@pytest.mark.parametrize("text", [
    "he hit me", "she pushed me", "my husband slapped me last night",
    "he threatened to kill me", "she said she'd kill me if i left",
    "he put his hands around my neck", "he choked me", "he grabbed me by the throat",
    "she locked me in the bedroom", "he won't let me leave the house",
    "he won't let me see my family", "he took my phone and my keys",
    "he forced me to have sex", "he makes me have sex when i say no",
    "i don't want to live anymore", "i want to kill myself", "i've been cutting myself",
    "i want to end it all", "everyone would be better off without me",
    "i'm scared he's going to hurt me", "i'm afraid to go home", "he has a gun",
    "she threw a plate at me", "i was raped", "he hits the kids",
    "he bashed my head on the floor", "he stepped on my hand and crushed my fingers",
    "he knocked me to the floor", "i had to lie to the doctor about how i broke my arm",
    "he says sex is my duty", "he wouldn't stop even when i was crying",
    "i've been googling how to do it", "nothing matters anymore",
    "my boyfriend dragged me around by my hair", "she cut me off from all my friends",
    "nobody would care if i was gone", "she keeps me locked in the flat",
    # as a recogniser hears them
    "she caught me off from all my friends", "she keeps me lack in the flat",
    "my boyfriend dragged me around bye my air",
])
def test_disclosures_are_crisis(text):
    assert level(text) == DANGER, text


@pytest.mark.parametrize("text", [
    # Idioms must not hide the same words said about a person.
    "the man hit me", "that man nearly killed me", "he is killing me", "my husband is killing me",
    "he beat me to a pulp", "he threw me off the bed", "my baby daddy kicked me",
    "he beat me to the ground", "my baby's father hit me", "she is killing me slowly",
])
def test_idioms_never_hide_a_person_doing_harm(matcher, text):
    assert matcher.understand(text).id == "crisis", text


@pytest.mark.parametrize("text", [
    # The way a recogniser mishears them.
    "he hid me last night",  # hit -> hid
    "i want to be here anymore",  # "don't" lost
    "my husband will let me see my friends",  # "won't" heard as "will"
    "i don't want to leave anymore",  # "live" heard as "leave"
    "she push me",
])
def test_disclosures_survive_recognition_errors(text):
    assert level(text) == DANGER, text


@pytest.mark.parametrize("text", [
    "my partner pushes me away when i try to talk", "we hit a rough patch",
    "this argument is killing me", "i could kill for a coffee", "it hit me that he lied",
    "he hurt my feelings", "i feel terrible about myself", "she brushes me off",
    "my phone is dying", "i'm dying to see that film", "he beat me at chess",
    "he keeps pushing my buttons", "i've been burned before", "she guilt trips me",
    "how do i tell him he hurt me without blaming",
    "this argument is killing me", "my feet are killing me", "that hike nearly killed me",
    "the news hit me hard", "my mum smothers me with attention", "the baby bit my finger",
    "he knocked on my door", "she has a crush on my brother", "he crushed my dreams",
    "i banged my head on the cupboard", "he chopped my onions", "we're ready to go",
    "he dragged me around the shops all day", "she caught me off guard",
    "if i was gone for a week would you water the plants", "i pulled my hair out over this",
])
def test_ordinary_talk_is_not_a_crisis(text):
    assert level(text) != DANGER, text


@pytest.mark.parametrize("text", [
    "he checks my phone every night", "she controls all the money",
    "my boyfriend tracks my location", "he reads all my messages",
    "she wants the passwords to my accounts",
])
def test_controlling_behaviour_is_its_own_level(text):
    assert level(text) == CONTROLLING, text


def test_asking_an_assistant_to_read_messages_is_not_control():
    assert level("read my messages") == SAFE


def test_crisis_wins_over_every_intent(matcher):
    for text in ("help me calm down he hit me", "give me a tip i want to kill myself",
                 "goodbye i don't want to live anymore", "yes he choked me"):
        assert matcher.understand(text).id == "crisis", text


def test_the_finding_names_its_evidence():
    finding = check_rules(normalize("she slapped me across the face"))
    assert finding.category == "violence" and "slapped" in finding.evidence


def test_the_safety_development_set(matcher):
    """tests/data/crisis_dev.tsv: 461 disclosures and 309 ordinary lines that sound close. Every
    disclosure is caught (coercive control, which gets its own answer with the hotline, counts),
    and ordinary talk rarely raises the alarm."""
    rows = list(csv.DictReader((DATA / "crisis_dev.tsv").open(), delimiter="\t"))
    disclosures = [r["text"] for r in rows if r["label"] == "crisis"]
    ordinary = [r["text"] for r in rows if r["label"] == "ordinary"]
    missed = [t for t in disclosures
              if matcher.understand(t).id != "crisis" and level(t) != CONTROLLING]
    alarms = [t for t in ordinary if matcher.understand(t).id == "crisis"]
    assert len(disclosures) > 400 and len(ordinary) > 300
    assert missed == []
    assert len(alarms) <= 0.03 * len(ordinary), alarms
