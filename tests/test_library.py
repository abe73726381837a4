"""The content library: the real TOML files, their validation, and their promises."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from common.errors import LibraryError
from intents.catalog import LIBRARY_IDS
from intents.library import (
    DEFAULT_LIBRARY,
    MAX_SENTENCE_WORDS,
    display_text,
    load_library,
    sentences,
    spoken_text,
)
from intents.normalize import normalize

SEED = ROOT.parent / "shared" / "seed" / "000_db830f5722e5d25a.txt"
CATALOG = ROOT.parent / "shared" / "intent-catalog.md"


def spoken_lines(library) -> list[tuple[str, str]]:
    lines = []
    for entry in library.intents.values():
        lines += [(entry.id, entry.reply)] + [(entry.id, f) for f in entry.follow_up]
    for field in ("greeting", "disclaimer", "did_you_mean", "did_you_mean_retry",
                  "end_of_topic", "tip_rotation_done", "coercive_control"):
        lines.append((f"lines.{field}", getattr(library.lines, field)))
    lines += [("lines.not_understood", t) for t in library.lines.not_understood]
    for code in library.regions:
        lines.append((f"crisis.{code}", library.crisis_reply(code)))
    return lines


def test_every_catalog_intent_is_defined(library):
    assert set(LIBRARY_IDS) <= set(library.intents)


@pytest.mark.skipif(not CATALOG.exists(), reason=f"{CATALOG} is not next to this checkout")
def test_our_id_list_matches_the_shared_catalog():
    ids = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)?)`", CATALOG.read_text()))
    ids -= {"pattern", "gentle", "box", "sigh", "resonance", "none", "crisis"}
    assert ids == set(LIBRARY_IDS)


def test_every_spoken_sentence_fits_in_one_breath(library):
    for owner, text in spoken_lines(library):
        for sentence in sentences(display_text(text)):
            assert len(sentence.split()) <= MAX_SENTENCE_WORDS, (owner, sentence)


@pytest.mark.skipif(not SEED.exists(), reason=f"{SEED} is not next to this checkout")
def test_nothing_spoken_is_copied_from_the_seed(library):
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z']+", text.lower().replace("\u2019", "'"))

    seed = words(SEED.read_text())
    seed_runs = {tuple(seed[i:i + 6]) for i in range(len(seed) - 5)}
    for owner, text in spoken_lines(library):
        said = words(display_text(text))
        for i in range(len(said) - 5):
            assert tuple(said[i:i + 6]) not in seed_runs, (owner, " ".join(said[i:i + 6]))


def test_replies_speak_to_the_person(library):
    for owner, text in spoken_lines(library):
        assert not re.search(r"\busers?\b", text, re.I), owner


def test_help_offers_three_or_four_options(library):
    reply = library.entry("help").reply
    options = re.split(r",\s*(?:or\s+)?|\bor\b", reply.split(".", 1)[1] if "." in reply else reply)
    assert 3 <= len([o for o in options if o.strip()]) <= 6  # a short menu, not a long list
    assert reply.rstrip().endswith("?")


def test_seed_topics_are_all_covered(library):
    assert len(library.topic("causes")) == 10  # overview + nine causes
    assert len(library.topic("impacts")) == 11  # overview + ten impacts
    therapy = " ".join(library.entry("therapy").follow_up).lower()
    for benefit in ("communicat", "conflict", "connect", "root", "grow", "boundar",
                    "self-esteem|self esteem|worth", "commit", "anxi|stress"):
        assert re.search(benefit, therapy), benefit
    example = library.entry("i_statements").reply.lower()
    assert "i feel" in example and "when" in example


def test_crisis_replies_never_suggest_couples_work(library):
    for code in library.regions:
        for again in (False, True):
            reply = library.crisis_reply(code, again).lower()
            assert not re.search(r"therap|counsel|couple|together|partner|exercise|breath", reply)
            assert display_text(library.regions[code].emergency) in display_text(reply)


def test_us_hotlines_are_exactly_right(library):
    reply = display_text(library.crisis_reply("US"))
    assert "call 911" in reply
    assert "call or text 988" in reply
    assert "1-800-799-7233" in reply and "text START to 88788" in reply


def test_phone_numbers_are_spoken_digit_by_digit():
    text = "Call <911> or <1-800-799-7233>."
    assert display_text(text) == "Call 911 or 1-800-799-7233."
    assert spoken_text(text) == "Call 9 1 1 or 1, 8 0 0, 7 9 9, 7 2 3 3."


def test_library_check_command(tmp_path):
    result = run_cli("library", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 48 intents")


# --- a content author's mistakes: one line naming the file, the entry and the field ----------


def _broken_copy(tmp_path: Path, file: str, old: str, new: str, after: str = "") -> Path:
    """A copy of the real library with one edit (the first `old` after `after`)."""
    copy = tmp_path / "library"
    shutil.copytree(DEFAULT_LIBRARY, copy)
    target = copy / file
    text = target.read_text()
    start = text.index(after) if after else 0
    at = text.index(old, start)
    target.write_text(text[:at] + new + text[at + len(old):])
    return copy


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("tips.toml", 'id = "tip.empathy"', 'id = "tip.empathy"\nrepley = "typo"',
     'intent "tip.empathy", field "repley": unknown field'),
    ("causes.toml", 'id = "cause.lies"\ntopic = "causes"',
     'id = "cause.lies"\ntopic = ""', 'intent "cause.lies", field "topic": must be a non-empty'),
    ("impacts.toml", 'keywords = [', 'keywords = [5, ',
     'intent "impact.anxiety", field "keywords": every item must be a non-empty string, got 5'),
    ("lines.toml", "did_you_mean = ", "did_you_mean_old = ",
     '[lines], field "did_you_mean_old": unknown key'),
    ("safety.toml", "{emergency}. {hotlines} You", "{emergency}. You",
     '[crisis], field "reply": must use exactly the placeholders'),
    ("skills.toml", 'id = "time_out"', 'id = "time_out"\n[oops',
     "not valid TOML"),
    ("tips.toml", 'id = "tip.empathy"', 'id = "tip.empathetic"',
     "missing intents from the catalog: tip.empathy"),
])
def test_broken_entries_are_reported_precisely(tmp_path, file, old, new, message):
    after = 'id = "impact.anxiety"' if old == "keywords = [" else ""
    copy = _broken_copy(tmp_path, file, old, new, after)
    with pytest.raises(LibraryError) as caught:
        load_library(copy)
    text = str(caught.value)
    assert message in text, text
    if "missing intents" not in message:
        assert str(copy / file) in text


def test_a_too_long_sentence_is_caught(tmp_path):
    long_sentence = " ".join(["word"] * 30) + "."
    copy = _broken_copy(tmp_path, "tips.toml", 'reply = "', f'reply = "{long_sentence} ')
    with pytest.raises(LibraryError, match="too long to say in one breath"):
        load_library(copy)


def test_the_same_example_in_two_intents_is_caught(tmp_path):
    example = normalize(load_library().entry("cause.lies").examples[0])
    copy = _broken_copy(tmp_path, "tips.toml", "examples = [",
                        f'examples = [\n  "{example}",')
    with pytest.raises(LibraryError, match=r"is also an example of cause\.lies"):
        load_library(copy)


def test_library_check_on_a_broken_copy_fails_with_one_line(tmp_path):
    copy = _broken_copy(tmp_path, "tips.toml", 'id = "tip.empathy"',
                        'id = "tip.empathy"\nrepley = "typo"')
    result = run_cli("library", "check", "--library", str(copy))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert 'tips.toml: intent "tip.empathy", field "repley"' in result.stderr


def test_a_content_author_can_add_a_phrase_without_code(tmp_path, library):
    from intents.matcher import IntentMatcher

    phrase = "my sweetheart keeps fibbing about the lottery tickets"
    before = IntentMatcher(library).understand(phrase).id
    copy = _broken_copy(tmp_path, "causes.toml", "examples = [",
                        f'examples = [\n  "{phrase}",', after='id = "cause.lies"')
    after = IntentMatcher(load_library(copy)).understand(phrase).id
    assert after == "cause.lies"
    assert before != after or before == "cause.lies"


def test_a_stray_brace_in_a_template_is_caught_when_loading(tmp_path):
    copy = _broken_copy(tmp_path, "safety.toml", "You don't have to face this alone.",
                        "You don't have to face this alone {.")
    with pytest.raises(LibraryError, match="cannot be filled in") as caught:
        load_library(copy)
    assert str(copy / "safety.toml") in str(caught.value) and '[crisis], field "reply"' in str(
        caught.value)
