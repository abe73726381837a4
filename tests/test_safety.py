"""The safety check: every disclosure is caught, ordinary talk is left alone."""

from __future__ import annotations

import pytest

from intents.normalize import normalize
from intents.safety import CONTROLLING, CRISIS, SAFE, check_safety


def level(text: str) -> str:
    return check_safety(normalize(text)).level


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
])
def test_disclosures_are_crisis(text):
    assert level(text) == CRISIS, text


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
    assert level(text) == CRISIS, text


@pytest.mark.parametrize("text", [
    "my partner pushes me away when i try to talk", "we hit a rough patch",
    "this argument is killing me", "i could kill for a coffee", "it hit me that he lied",
    "he hurt my feelings", "i feel terrible about myself", "she brushes me off",
    "my phone is dying", "i'm dying to see that film", "he beat me at chess",
    "he keeps pushing my buttons", "i've been burned before", "she guilt trips me",
    "how do i tell him he hurt me without blaming",
    "this argument is killing me", "my feet are killing me", "that hike nearly killed me",
    "the news hit me hard", "my mum smothers me with attention", "the baby bit my finger",
])
def test_ordinary_talk_is_not_a_crisis(text):
    assert level(text) != CRISIS, text


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
    finding = check_safety(normalize("she slapped me across the face"))
    assert finding.category == "violence" and "slapped" in finding.evidence
