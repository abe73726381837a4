"""The tip library: TOML content files loaded into frozen dataclasses and checked at start.

Content authors edit `intents/library/*.toml` (or a copy named by --library) without touching
code; `trust-coach library check` runs the same validation. Every problem is reported as
``FILE: intent "ID", field "FIELD": what is wrong``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from intents.catalog import CONTROL, CRISIS, LIBRARY_IDS
from intents.normalize import normalize
from voice.errors import LibraryError

DEFAULT_LIBRARY = Path(__file__).resolve().parent / "library"
MAX_SENTENCE_WORDS = 25  # about one breath
MAX_REPLY_SENTENCES = 4

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_PHONE = re.compile(r"<([^<>]+)>")


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def display_text(text: str) -> str:
    """Phone numbers are marked <like this> in the content; printed, the marks go."""
    return _PHONE.sub(lambda m: m.group(1), text)


def spoken_text(text: str) -> str:
    """For the voice, a marked number is read digit by digit, groups apart: "9 8 8"."""

    def digits(match: re.Match[str]) -> str:
        groups = re.split(r"[\s-]+", match.group(1).strip())
        return ", ".join(" ".join(g) if g.isdigit() else g for g in groups)

    return _PHONE.sub(digits, text)


@dataclass(frozen=True, slots=True)
class IntentEntry:
    id: str
    topic: str
    title: str
    reply: str
    follow_up: tuple[str, ...]
    examples: tuple[str, ...]
    keywords: tuple[str, ...]
    source: Path


@dataclass(frozen=True, slots=True)
class Lines:
    """Situational lines the program speaks (lines.toml)."""

    greeting: str
    disclaimer: str
    not_understood: tuple[str, str]
    did_you_mean: str
    did_you_mean_retry: str
    end_of_topic: str
    tip_rotation_done: str
    coercive_control: str


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    emergency: str
    hotlines: tuple[str, ...]
    abuse_line: str


@dataclass(frozen=True, slots=True)
class CrisisContent:
    title: str
    reply: str
    reply_again: str
    control_hotline: str


@dataclass(frozen=True)
class Library:
    intents: Mapping[str, IntentEntry]
    lines: Lines
    crisis: CrisisContent
    regions: Mapping[str, Region]
    synonyms: Mapping[str, str] = field(default_factory=dict)  # word or phrase -> canonical word
    out_of_scope: tuple[str, ...] = ()  # speech that is not for us, a competing class
    disclosures: tuple[str, ...] = ()  # crisis examples, for the safety classifier
    everyday: tuple[str, ...] = ()  # ordinary talk that sounds like crisis talk
    files: tuple[Path, ...] = field(default=())

    def entry(self, intent_id: str) -> IntentEntry:
        return self.intents[intent_id]

    def topic(self, topic: str) -> tuple[IntentEntry, ...]:
        return tuple(e for e in self.intents.values() if e.topic == topic)

    def title(self, intent_id: str) -> str:
        if intent_id == CRISIS:
            return self.crisis.title
        return self.intents[intent_id].title

    def crisis_reply(self, region: str, again: bool = False) -> str:
        r = self.regions[region]
        template = self.crisis.reply_again if again else self.crisis.reply
        return template.format(emergency=r.emergency, hotlines=" ".join(r.hotlines))

    def control_hotline(self, region: str) -> str:
        return self.crisis.control_hotline.format(abuse_line=self.regions[region].abuse_line)


# --- loading ---------------------------------------------------------------------------------

_ENTRY_FIELDS = {"id", "topic", "title", "reply", "follow_up", "examples", "keywords"}
_TOP_LEVEL = {"intent", "lines", "crisis", "region", "synonyms", "out_of_scope",
              "crisis_examples"}


def load_library(directory: Path | str = DEFAULT_LIBRARY) -> Library:
    directory = Path(directory)
    if not directory.is_dir():
        raise LibraryError(directory, "library directory not found")
    files = tuple(sorted(directory.glob("*.toml")))
    if not files:
        raise LibraryError(directory, "no .toml files in the library directory")
    entries: dict[str, IntentEntry] = {}
    lines: tuple[Path, dict] | None = None
    crisis: tuple[Path, dict] | None = None
    regions: dict[str, Region] = {}
    synonyms: dict[str, str] = {}
    out_of_scope: list[str] = []
    disclosures: list[str] = []
    everyday: list[str] = []
    for path in files:
        data = _read_toml(path)
        for key in data:
            if key not in _TOP_LEVEL:
                raise LibraryError(path, f"unknown section [{key}] (expected one of "
                                   f"{', '.join(sorted(_TOP_LEVEL))})")
        for index, raw in enumerate(_list_of_tables(path, data.get("intent", []), "intent")):
            entry = _entry(path, index, raw)
            if entry.id in entries:
                raise LibraryError(path, f"duplicate id, also in {entries[entry.id].source.name}",
                                   f'intent "{entry.id}"')
            entries[entry.id] = entry
        if "lines" in data:
            if lines is not None:
                raise LibraryError(path, f"[lines] is also defined in {lines[0].name}")
            lines = (path, data["lines"])
        if "crisis" in data:
            if crisis is not None:
                raise LibraryError(path, f"[crisis] is also defined in {crisis[0].name}")
            crisis = (path, data["crisis"])
        for code, raw in data.get("region", {}).items():
            regions[code] = _region(path, code, raw)
        if "synonyms" in data:
            _add_synonyms(path, data["synonyms"], synonyms)
        if "out_of_scope" in data:
            out_of_scope += _phrase_lists(path, data["out_of_scope"], "out_of_scope",
                                          ("examples",))["examples"]
        if "crisis_examples" in data:
            lists = _phrase_lists(path, data["crisis_examples"], "crisis_examples",
                                  ("disclosures", "everyday"))
            disclosures += lists["disclosures"]
            everyday += lists["everyday"]
    if lines is None:
        raise LibraryError(directory, "no [lines] table in any library file")
    if crisis is None:
        raise LibraryError(directory, "no [crisis] table in any library file")
    if not regions:
        raise LibraryError(directory, "no [region.XX] tables in any library file")
    missing = [i for i in LIBRARY_IDS if i not in entries]
    if missing:
        raise LibraryError(directory, f"missing intents from the catalog: {', '.join(missing)}")
    _check_examples_unique(entries, out_of_scope)
    library = Library(
        intents=MappingProxyType(entries),
        lines=_typed_table(lines[0], lines[1], Lines, "lines"),
        crisis=_typed_table(crisis[0], crisis[1], CrisisContent, "crisis"),
        regions=MappingProxyType(regions),
        synonyms=MappingProxyType(synonyms),
        out_of_scope=tuple(out_of_scope),
        disclosures=tuple(disclosures),
        everyday=tuple(everyday),
        files=files,
    )
    _check_placeholders(library, lines[0], crisis[0])
    return library


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as error:
        raise LibraryError(path, f"not valid TOML: {error}") from None
    except OSError as error:
        raise LibraryError(path, f"cannot read: {error.strerror}") from None


def _list_of_tables(path: Path, value: Any, name: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise LibraryError(path, f"[[{name}]] must be an array of tables")
    return value


def _entry(path: Path, index: int, raw: dict) -> IntentEntry:
    ident = raw.get("id")
    where = f'intent "{ident}"' if isinstance(ident, str) else f"intent #{index + 1}"

    def fail(field_name: str, problem: str) -> LibraryError:
        return LibraryError(path, problem, f'{where}, field "{field_name}"')

    for key in raw:
        if key not in _ENTRY_FIELDS:
            raise fail(key, f"unknown field (expected {', '.join(sorted(_ENTRY_FIELDS))})")
    for key in ("id", "topic", "title", "reply"):
        if key not in raw:
            raise fail(key, "missing")
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise fail(key, "must be a non-empty string")
    if ident == CRISIS:
        raise fail("id", "crisis is defined in the [crisis] table, not as an intent")
    if ident not in LIBRARY_IDS and not re.fullmatch(r"[a-z_]+(\.[a-z_]+)?", ident):
        raise fail("id", "ids are lowercase words with underscores, e.g. tip.empathy")
    follow_up = _strings(raw.get("follow_up", []), fail, "follow_up")
    examples = _strings(raw.get("examples", []), fail, "examples")
    keywords = _strings(raw.get("keywords", []), fail, "keywords")
    is_control = ident in CONTROL
    _check_spoken(raw["reply"], fail, "reply", max_sentences=MAX_REPLY_SENTENCES)
    for line in follow_up:
        _check_spoken(line, fail, "follow_up", max_sentences=MAX_REPLY_SENTENCES)
    if not follow_up and not is_control:
        raise fail("follow_up", "needs at least one line for 'tell me more'")
    if not examples:
        raise fail("examples", "needs at least one example phrase")
    for example in examples:
        if not normalize(example):
            raise fail("examples", f"{example!r} is empty after normalising")
    return IntentEntry(ident, raw["topic"], raw["title"], raw["reply"].strip(),
                       follow_up, examples, keywords, path)


def _strings(value: Any, fail, name: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise fail(name, "must be a list of strings")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise fail(name, f"every item must be a non-empty string, got {item!r}")
    return tuple(v.strip() for v in value)


def _check_spoken(text: str, fail, name: str, max_sentences: int) -> None:
    said = sentences(display_text(text))
    if not 1 <= len(said) <= max_sentences:
        raise fail(name, f"has {len(said)} sentences; use 1 to {max_sentences}")
    for sentence in said:
        words = len(sentence.split())
        if words > MAX_SENTENCE_WORDS:
            raise fail(name, f"sentence of {words} words is too long to say in one breath "
                       f"(at most {MAX_SENTENCE_WORDS}): {sentence[:60]!r}...")


def _check_examples_unique(entries: dict[str, IntentEntry], out_of_scope: list[str]) -> None:
    seen: dict[str, str] = {normalize(e): "out_of_scope" for e in out_of_scope}
    for entry in entries.values():
        for example in entry.examples:
            key = normalize(example)
            if key in seen and seen[key] != entry.id:
                raise LibraryError(entry.source, f"{example!r} is also an example of "
                                   f"{seen[key]}", f'intent "{entry.id}", field "examples"')
            seen[key] = entry.id


def _typed_table(path: Path, raw: Any, cls: type, name: str):
    if not isinstance(raw, dict):
        raise LibraryError(path, f"[{name}] must be a table")
    expected = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in expected:
            raise LibraryError(path, f"unknown key (expected {', '.join(expected)})",
                               f'[{name}], field "{key}"')
    values = {}
    for key, spec in expected.items():
        if key not in raw:
            raise LibraryError(path, "missing", f'[{name}], field "{key}"')
        value = raw[key]
        if spec.type.startswith("tuple"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise LibraryError(path, "must be a list of strings", f'[{name}], field "{key}"')
            value = tuple(value)
        elif not isinstance(value, str) or not value.strip():
            raise LibraryError(path, "must be a non-empty string", f'[{name}], field "{key}"')
        values[key] = value
    if name == "lines" and len(values["not_understood"]) != 2:
        raise LibraryError(path, "needs exactly two wordings (first time, second time)",
                           '[lines], field "not_understood"')
    return cls(**values)


def _phrase_lists(path: Path, raw: Any, table: str,
                  names: tuple[str, ...]) -> dict[str, list[str]]:
    """A table of phrase lists, e.g. [out_of_scope] examples = [...]."""
    if not isinstance(raw, dict) or set(raw) != set(names):
        raise LibraryError(path, f"must be a table with the fields {', '.join(names)}",
                           f"[{table}]")
    lists = {}
    for name in names:
        phrases = raw[name]
        if not isinstance(phrases, list) or not all(isinstance(e, str) and normalize(e)
                                                     for e in phrases):
            raise LibraryError(path, "must be a list of non-empty phrases",
                               f'[{table}], field "{name}"')
        lists[name] = [e.strip() for e in phrases]
    return lists


def _add_synonyms(path: Path, raw: Any, synonyms: dict[str, str]) -> None:
    """[synonyms] canonical = ["other", "words"]: each other word is read as the canonical one."""
    if not isinstance(raw, dict):
        raise LibraryError(path, "must be a table of lists", "[synonyms]")
    for canonical, words in raw.items():
        where = f'[synonyms], group "{canonical}"'
        head = normalize(canonical)
        if not head or " " in head:
            raise LibraryError(path, "the canonical word must be a single word", where)
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise LibraryError(path, "must be a list of words", where)
        for word in words:
            key = normalize(word)
            if not key or len(key.split()) > 3:
                raise LibraryError(path, f"{word!r} must be one to three words", where)
            if key in synonyms and synonyms[key] != head:
                raise LibraryError(path, f"{word!r} is already a synonym of "
                                   f"{synonyms[key]!r}", where)
            if key != head:
                synonyms[key] = head


def _region(path: Path, code: str, raw: Any) -> Region:
    where = f"[region.{code}]"
    if not isinstance(raw, dict):
        raise LibraryError(path, "must be a table", where)
    for key in ("name", "emergency", "abuse_line"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise LibraryError(path, "missing or empty", f'{where}, field "{key}"')
    hotlines = raw.get("hotlines")
    if not isinstance(hotlines, list) or not hotlines or not all(
            isinstance(h, str) and h for h in hotlines):
        raise LibraryError(path, "must be a non-empty list of strings",
                           f'{where}, field "hotlines"')
    extra = set(raw) - {"name", "emergency", "abuse_line", "hotlines"}
    if extra:
        raise LibraryError(path, f"unknown field {sorted(extra)[0]!r}", where)
    return Region(code, raw["name"], raw["emergency"], tuple(hotlines), raw["abuse_line"])


_PLACEHOLDERS = {
    "did_you_mean": {"first", "second"},
    "did_you_mean_retry": {"first", "second"},
    "end_of_topic": {"title"},
}


def _check_placeholders(library: Library, lines_path: Path, crisis_path: Path) -> None:
    for key, wanted in _PLACEHOLDERS.items():
        found = set(re.findall(r"{(\w+)}", getattr(library.lines, key)))
        if found != wanted:
            raise LibraryError(lines_path, f"must use exactly the placeholders "
                               f"{', '.join('{' + w + '}' for w in sorted(wanted))}",
                               f'[lines], field "{key}"')
    for key, wanted in (("reply", {"emergency", "hotlines"}),
                        ("reply_again", {"emergency", "hotlines"}),
                        ("control_hotline", {"abuse_line"})):
        found = set(re.findall(r"{(\w+)}", getattr(library.crisis, key)))
        if found != wanted:
            raise LibraryError(crisis_path, "must use exactly the placeholders "
                               f"{', '.join('{' + w + '}' for w in sorted(wanted))}",
                               f'[crisis], field "{key}"')
