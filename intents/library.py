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

from common.errors import LibraryError
from intents.breathing import (
    PHASE_KINDS,
    BreathingCommands,
    BreathingLines,
    Pattern,
    Phase,
)
from intents.catalog import BREATHING_PATTERNS, CONTROL, CRISIS, LIBRARY_IDS
from intents.normalize import normalize

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
    safety_check: str  # asked when another reading of the speech discloses danger
    safety_check_unsure: str  # asked when what was said may disclose danger
    safety_check_declined: str  # "no" to that: said before the answer to what was asked
    feeling_good: str  # a good feeling said aloud
    talk_it_through: str  # "talk it through", answering the feelings offer
    offer_declined: str  # "no" to an offer
    cut_short: str  # said after the reply to a text too long to read whole


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
    safe_yes: str  # after the crisis answer: "yes, I'm safe"
    safe_no: str  # "no, I'm not safe"
    check_in: str  # anything short of moving on
    farewell: str  # goodbye while their safety is the subject


@dataclass(frozen=True, slots=True)
class TimeoutLines:
    """What the conflict time-out says around its timer ([timeout] in breathing.toml)."""

    offer: str
    started: str
    declined: str
    out_of_range: str
    cancelled: str
    no_timer: str
    done: str
    restart_offer: str
    gentle_start: str
    missed: str


@dataclass(frozen=True, slots=True)
class Breathing:
    lines: BreathingLines
    cues: Mapping[str, str]
    commands: BreathingCommands
    patterns: Mapping[str, Pattern]


@dataclass(frozen=True)
class Library:
    intents: Mapping[str, IntentEntry]
    lines: Lines
    crisis: CrisisContent
    regions: Mapping[str, Region]
    breathing: Breathing
    timeout: TimeoutLines
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

    def crisis_line(self, template: str, region: str) -> str:
        """One of the crisis table's lines, with the region's numbers filled in."""
        r = self.regions[region]
        return template.format(emergency=r.emergency, hotlines=" ".join(r.hotlines))


# --- loading ---------------------------------------------------------------------------------

_ENTRY_FIELDS = {"id", "topic", "title", "reply", "follow_up", "examples", "keywords"}
_TOP_LEVEL = {"intent", "lines", "crisis", "region", "synonyms", "out_of_scope",
              "crisis_examples", "breathing", "pattern", "timeout"}


_SINGLE_TABLES = ("lines", "crisis", "breathing", "timeout")  # each defined in one file only


@dataclass
class _Collected:
    """Everything read from the files, before it is checked as a whole."""

    entries: dict[str, IntentEntry] = field(default_factory=dict)
    tables: dict[str, tuple[Path, Any]] = field(default_factory=dict)
    regions: dict[str, Region] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)
    patterns: dict[str, Pattern] = field(default_factory=dict)
    out_of_scope: list[str] = field(default_factory=list)
    disclosures: list[str] = field(default_factory=list)
    everyday: list[str] = field(default_factory=list)

    def add(self, path: Path, data: dict[str, Any]) -> None:
        for key in data:
            if key not in _TOP_LEVEL:
                raise LibraryError(path, f"unknown section [{key}] (expected one of "
                                   f"{', '.join(sorted(_TOP_LEVEL))})")
        for index, raw in enumerate(_list_of_tables(path, data.get("intent", []), "intent")):
            entry = _entry(path, index, raw)
            if entry.id in self.entries:
                raise LibraryError(path, f"duplicate id, also in "
                                   f"{self.entries[entry.id].source.name}", f'intent "{entry.id}"')
            self.entries[entry.id] = entry
        for name in _SINGLE_TABLES:
            if name in data:
                if name in self.tables:
                    raise LibraryError(path, f"[{name}] is also defined in "
                                       f"{self.tables[name][0].name}")
                self.tables[name] = (path, data[name])
        for code, raw in data.get("region", {}).items():
            self.regions[code] = _region(path, code, raw)
        if "synonyms" in data:
            _add_synonyms(path, data["synonyms"], self.synonyms)
        for index, raw in enumerate(_list_of_tables(path, data.get("pattern", []), "pattern")):
            pattern = _pattern(path, index, raw)
            if pattern.name in self.patterns:
                raise LibraryError(path, "duplicate pattern name", f'pattern "{pattern.name}"')
            self.patterns[pattern.name] = pattern
        if "out_of_scope" in data:
            self.out_of_scope += _phrase_lists(path, data["out_of_scope"], "out_of_scope",
                                               ("examples",))["examples"]
        if "crisis_examples" in data:
            lists = _phrase_lists(path, data["crisis_examples"], "crisis_examples",
                                  ("disclosures", "everyday"))
            self.disclosures += lists["disclosures"]
            self.everyday += lists["everyday"]

    def table(self, directory: Path, name: str, cls: type):
        if name not in self.tables:
            raise LibraryError(directory, f"no [{name}] table in any library file")
        path, raw = self.tables[name]
        return _typed_table(path, raw, cls, name)


def load_library(directory: Path | str = DEFAULT_LIBRARY) -> Library:
    directory = Path(directory)
    if not directory.is_dir():
        raise LibraryError(directory, "library directory not found")
    files = tuple(sorted(directory.glob("*.toml")))
    if not files:
        raise LibraryError(directory, "no .toml files in the library directory")
    found = _Collected()
    for path in files:
        found.add(path, _read_toml(path))
    if not found.regions:
        raise LibraryError(directory, "no [region.XX] tables in any library file")
    missing = [i for i in LIBRARY_IDS if i not in found.entries]
    if missing:
        raise LibraryError(directory, f"missing intents from the catalog: {', '.join(missing)}")
    _check_examples_unique(found.entries, found.out_of_scope)
    library = Library(
        intents=MappingProxyType(found.entries),
        lines=found.table(directory, "lines", Lines),
        crisis=found.table(directory, "crisis", CrisisContent),
        regions=MappingProxyType(found.regions),
        synonyms=MappingProxyType(found.synonyms),
        breathing=_breathing(directory, found.tables.get("breathing"), found.patterns),
        timeout=found.table(directory, "timeout", TimeoutLines),
        out_of_scope=tuple(found.out_of_scope),
        disclosures=tuple(found.disclosures),
        everyday=tuple(found.everyday),
        files=files,
    )
    _check_templates(library, {name: path for name, (path, _) in found.tables.items()})
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


def _pattern(path: Path, index: int, raw: dict) -> Pattern:
    name = raw.get("name")
    where = f'pattern "{name}"' if isinstance(name, str) else f"pattern #{index + 1}"
    allowed = {"name", "title", "rounds", "max_rounds", "caution", "phases"}
    for key in raw:
        if key not in allowed:
            raise LibraryError(path, f"unknown field (expected {', '.join(sorted(allowed))})",
                               f'{where}, field "{key}"')
    for key in ("name", "title"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise LibraryError(path, "must be a non-empty string", f'{where}, field "{key}"')
    for key in ("rounds", "max_rounds"):
        value = raw.get(key, 1 if key == "rounds" else None)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise LibraryError(path, "must be a whole number of at least 1",
                               f'{where}, field "{key}"')
    phases = raw.get("phases")
    if not isinstance(phases, list) or not phases:
        raise LibraryError(path, "must be a non-empty list of {kind, seconds}",
                           f'{where}, field "phases"')
    parsed = []
    for number, phase in enumerate(phases, start=1):
        if (not isinstance(phase, dict) or set(phase) != {"kind", "seconds"}
                or phase["kind"] not in PHASE_KINDS
                or not isinstance(phase["seconds"], int | float) or phase["seconds"] <= 0):
            raise LibraryError(path, f"phase {number} must be {{kind = one of "
                               f"{', '.join(PHASE_KINDS)}, seconds > 0}}",
                               f'{where}, field "phases"')
        parsed.append(Phase(phase["kind"], float(phase["seconds"])))
    return Pattern(raw["name"], raw["title"], tuple(parsed), raw.get("rounds", 1),
                   raw.get("max_rounds"), raw.get("caution", ""))


def _breathing(directory: Path, table: tuple[Path, Any] | None,
               patterns: dict[str, Pattern]) -> Breathing:
    if table is None:
        raise LibraryError(directory, "no [breathing] table in any library file")
    path, raw = table
    if not isinstance(raw, dict):
        raise LibraryError(path, "must be a table", "[breathing]")
    lines = _typed_table(path, {k: v for k, v in raw.items() if k not in ("cues", "commands")},
                         BreathingLines, "breathing")
    cues = raw.get("cues")
    if not isinstance(cues, dict) or set(cues) != set(PHASE_KINDS) or not all(
            isinstance(v, str) and v.strip() for v in cues.values()):
        raise LibraryError(path, f"needs one line for each of {', '.join(PHASE_KINDS)}",
                           "[breathing.cues]")
    commands = _typed_table(path, raw.get("commands"), BreathingCommands, "breathing.commands")
    missing = [p for p in BREATHING_PATTERNS if p not in patterns]
    if missing:
        raise LibraryError(directory, f"missing breathing patterns: {', '.join(missing)}")
    return Breathing(lines, MappingProxyType(dict(cues)), commands, MappingProxyType(patterns))


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


_TEMPLATES = {  # (table, field) -> the placeholders it must use
    ("lines", "did_you_mean"): {"first", "second"},
    ("lines", "did_you_mean_retry"): {"first", "second"},
    ("lines", "end_of_topic"): {"title"},
    ("crisis", "reply"): {"emergency", "hotlines"},
    ("crisis", "reply_again"): {"emergency", "hotlines"},
    ("crisis", "control_hotline"): {"abuse_line"},
    ("crisis", "safe_yes"): set(),
    ("crisis", "safe_no"): {"emergency", "hotlines"},
    ("crisis", "check_in"): set(),
    ("crisis", "farewell"): {"emergency"},
    ("timeout", "offer"): {"minutes"},
    ("timeout", "started"): {"minutes"},
    ("timeout", "done"): {"minutes"},
    ("timeout", "missed"): {"minutes"},
    ("breathing", "switched"): {"title"},
}


def _check_templates(library: Library, defined_in: dict[str, Path]) -> None:
    """Every template uses exactly its placeholders and can really be filled in (a stray
    brace would otherwise only fail when the line is needed, perhaps in a crisis)."""
    tables = {"lines": library.lines, "crisis": library.crisis, "timeout": library.timeout,
              "breathing": library.breathing.lines}
    for (table, name), wanted in _TEMPLATES.items():
        template = getattr(tables[table], name)
        where = f'[{table}], field "{name}"'
        found = set(re.findall(r"{(\w+)}", template))
        if found != wanted:
            raise LibraryError(defined_in[table], "must use exactly the placeholders "
                               f"{', '.join('{' + w + '}' for w in sorted(wanted))}", where)
        try:
            template.format(**dict.fromkeys(wanted, "x"))
        except (ValueError, IndexError, KeyError) as error:
            raise LibraryError(defined_in[table], f"cannot be filled in ({error}); use {{ and }}"
                               " only around a placeholder", where) from None
