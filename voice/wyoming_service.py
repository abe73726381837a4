"""The coach as a Wyoming "handle" service, for Home Assistant's voice satellites.

Home Assistant turns speech into text itself and sends each utterance as a `transcript` event;
the answer goes back as a `handled` event whose text the satellite speaks. The answer comes
from the same conversation core as every other front end (intents.conversation), safety check
first, so a disclosure gets the crisis answer with the hotlines here too.

Conversations. Home Assistant puts a `conversation_id` in the transcript's context (and opens
a new connection for every utterance), so state is kept per conversation id: "yes" answers our
last question, "next" goes on with the topic. A client that sends no id gets one conversation
per connection, and the id it was given comes back in the `handled` context so that it can
send it again. A conversation is forgotten after `IDLE_SECONDS` without a word, after
"goodbye", or, beyond `MAX_CONVERSATIONS`, when it is the one left idle longest.

A satellite is a microphone and a speaker and nothing else: it cannot run a timed breathing
exercise, keep a break timer or change its voice. What the coach would do is said in words
instead (`SpeakerLines`).

The conversation core is synchronous: each turn runs on a worker thread, one turn at a time per
conversation, so the event loop keeps serving everyone else. The matcher and the library are
built once and shared; they are only read while answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import stat
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from wyoming.asr import Transcript as WyomingTranscript
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled
from wyoming.info import Attribution, Describe, HandleModel, HandleProgram, Info
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler

from common.errors import BadInputError, UsageError
from common.transcript import typed
from intents.breathing import Pattern
from intents.coach import (
    DEFAULT_BREAK_MINUTES,
    CancelTimer,
    ChangeRate,
    Coach,
    EndCoaching,
    EndConversation,
    Reply,
    StartBreathing,
    StartTimer,
)
from intents.conversation import Conversation
from intents.library import Library, spoken_text
from intents.matcher import IntentMatcher
from intents.safety import SAFE

log = logging.getLogger(__name__)

DEFAULT_URI = "tcp://127.0.0.1:10600"  # this machine only, unless the person says otherwise
IDLE_SECONDS = 300.0  # a conversation silent this long is forgotten
MAX_CONVERSATIONS = 64  # more than a home has; beyond it the one idle longest goes
MAX_PART_BYTES = 65_536  # the header line, its data and its payload, each at most this
MAX_ID_CHARS = 200  # a conversation id longer than this is not one Home Assistant makes
CONNECTION_IDLE_SECONDS = 300.0  # a connection that says nothing this long is closed
WORKERS = 2  # turns take milliseconds; two threads keep one slow turn from holding the rest
PROGRAM = "trust-coach"
LANGUAGES = ("en",)


# --- what is said instead of what a satellite cannot do -------------------------------------


@dataclass(frozen=True, slots=True)
class SpeakerLines:
    """Sentences for a device that only has a speaker, in place of the coach's actions.

    They belong to this front end, not to the shared content: the library's loader
    (intents/library.py) accepts only the tables every front end uses."""

    breathing_round: str = "Here is one round of {title}, at your own pace. {steps}"
    breathing_more: str = ("Do a few more rounds like that, as slowly as feels comfortable. "
                           "For a guided session with timed cues, ask the coach on its own "
                           "device.")
    # Phases of a round, joined into one sentence; {count} is a number in words.
    breathe_in: str = "breathe in through your nose for a count of {count}"
    top_up: str = "take a small extra sip of air"
    hold: str = "hold for {count}"
    breathe_out: str = "breathe out slowly for {count}"
    # The time-out's offer of a timer, and any "yes" to it.
    timer_offer: str = ("This speaker can't call you back, so set a timer on a phone for "
                        "{minutes} minutes.")
    timer: str = ("I can't keep time through this speaker. Please set a timer on a phone for "
                  "{minutes} minutes, or ask the coach on its own device to keep it for you.")
    cancel_timer: str = ("There's no timer on this speaker. A timer kept by the coach's own "
                         "device can be cancelled there.")
    rate: str = ("This voice comes from Home Assistant, so I can't change how fast it speaks "
                 "from here.")
    exercise: str = ("No breathing exercise is running on this speaker. Say help me calm "
                     "down, and I'll talk you through a round.")


SPEAKER_LINES = SpeakerLines()

_COUNTS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
           "ten", "eleven", "twelve")


def count_in_words(seconds: float) -> str:
    """4 -> "four", 5.5 -> "five and a half" (the lengths breathing.toml uses)."""
    whole, rest = int(seconds), seconds - int(seconds)
    words = _COUNTS[whole] if whole < len(_COUNTS) else str(whole)
    return f"{words} and a half" if abs(rest - 0.5) < 0.01 else words


def breathing_in_words(library: Library, pattern_name: str, *, caution: bool = True,
                       lines: SpeakerLines = SPEAKER_LINES) -> str:
    """One round of a pattern, told rather than timed: the caution (once a conversation, as
    the guided exercise says it), the pattern's own note, the round, what next."""
    patterns = library.breathing.patterns
    pattern = patterns.get(pattern_name) or patterns["gentle"]
    general = library.breathing.lines.caution if caution else ""
    round_told = lines.breathing_round.format(title=pattern.title, steps=_steps(pattern, lines))
    return " ".join(t for t in (general, pattern.caution, round_told, lines.breathing_more) if t)


def _steps(pattern: Pattern, lines: SpeakerLines) -> str:
    templates = {"in": lines.breathe_in, "top_up": lines.top_up, "hold": lines.hold,
                 "out": lines.breathe_out}
    parts = [templates[p.kind].format(count=count_in_words(p.seconds)) for p in pattern.phases]
    sentence = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])}, then {parts[-1]}"
    return f"{sentence[0].upper()}{sentence[1:]}."


# --- where to listen ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    scheme: str  # "tcp" or "unix"
    host: str = ""
    port: int = 0  # 0: any free port (the one chosen is reported)
    path: Path | None = None

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


def parse_uri(uri: str) -> Address:
    """tcp://HOST:PORT or unix://PATH; anything else is a usage error naming what is wanted."""
    problem = UsageError(f"--uri: expected tcp://HOST:PORT or unix://PATH, not {uri!r}")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise problem from None
    if parts.scheme == "tcp" and parts.hostname and port is not None \
            and not (parts.path or parts.query or parts.fragment):
        return Address("tcp", parts.hostname, port)
    if parts.scheme == "unix":
        path = f"{parts.netloc}{parts.path}"
        if path and not (parts.query or parts.fragment):
            return Address("unix", path=Path(path))
    raise problem


# --- conversations, one per id ---------------------------------------------------------------


@dataclass(slots=True)
class Held:
    """One conversation and what the service remembers of it besides the coach's state."""

    conversation: Conversation
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one turn at a time
    last_used: float = 0.0
    disclaimer_owed: bool = True  # said once a conversation, as the voice loop says it
    cautioned: bool = False  # the breathing caution, also once a conversation
    last_said: str = ""  # for "repeat": what was said here, words for actions included


class Conversations:
    """Conversations by id, forgotten when idle, bounded in number. Used on the event loop
    only (the turns themselves run on worker threads, under each one's lock)."""

    def __init__(self, start: Callable[[], Conversation], idle_seconds: float = IDLE_SECONDS,
                 limit: int = MAX_CONVERSATIONS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._start = start
        self._idle = idle_seconds
        self._limit = limit
        self._clock = clock
        self._held: OrderedDict[str, Held] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, key: str) -> bool:
        return key in self._held

    def get(self, key: str) -> Held:
        now = self._clock()
        for stale in [k for k, h in self._held.items() if now - h.last_used > self._idle]:
            log.debug("conversation %s forgotten after %.0f s idle", stale, self._idle)
            del self._held[stale]
        held = self._held.get(key)
        if held is None:
            held = self._held[key] = Held(self._start())
            while len(self._held) > self._limit:
                oldest, _ = self._held.popitem(last=False)
                log.info("conversation %s forgotten: more than %d at once", oldest, self._limit)
        self._held.move_to_end(key)
        held.last_used = now
        return held

    def forget(self, key: str) -> None:
        self._held.pop(key, None)


# --- the service: transcripts in, words out --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    text: str  # as the satellite should speak it (numbers digit by digit)
    intent: str
    finished: bool  # the person said goodbye


class CoachService:
    """The conversation core behind the protocol: builds conversations on the shared library
    and matcher, and turns each reply, action included, into words for a speaker."""

    def __init__(self, library: Library, matcher: IntentMatcher, region: str = "US",
                 *, version: str = "", lines: SpeakerLines = SPEAKER_LINES,
                 idle_seconds: float = IDLE_SECONDS, limit: int = MAX_CONVERSATIONS) -> None:
        self.library = library
        self.matcher = matcher
        self.region = region
        self.version = version or _installed_version()
        self.lines = lines
        Coach(library, matcher, region)  # an unknown region fails here, before any client
        self.conversations = Conversations(self.new_conversation, idle_seconds, limit)

    def new_conversation(self) -> Conversation:
        # No timer_running: a satellite keeps no break timer.
        return Conversation(Coach(self.library, self.matcher, self.region))

    def info(self) -> Info:
        attribution = Attribution(name=PROGRAM, url="")
        description = "An offline companion for couples working through trust issues"
        model = HandleModel(name=PROGRAM, attribution=attribution, installed=True,
                            description=description, version=self.version,
                            languages=list(LANGUAGES))
        program = HandleProgram(name=PROGRAM, attribution=attribution, installed=True,
                                description=description, version=self.version,
                                models=[model])
        return Info(handle=[program])

    def turn(self, held: Held, text: str) -> Answer:
        """One utterance of one conversation. Synchronous: run it on a worker thread, under
        `held.lock`."""
        turn = held.conversation.hear(typed(text))
        reply = turn.reply
        said = held.last_said if reply.intent.id == "repeat" and held.last_said \
            else self.in_words(reply, held)
        held.last_said = said
        intent = reply.intent
        if intent.crisis:
            held.disclaimer_owed = False  # the crisis answer says what matters more
        elif held.disclaimer_owed and intent.possible_crisis is None \
                and intent.safety.level == SAFE:
            # Never in front of a safety answer: that comes first.
            said = f"{self.library.lines.disclaimer} {said}"
            held.disclaimer_owed = False
        return Answer(spoken_text(said), intent.id, held.conversation.finished)

    def in_words(self, reply: Reply, held: Held) -> str:
        """The reply, with what a satellite cannot do said instead of done."""
        action, lines = reply.action, self.lines
        if action is None or isinstance(action, EndCoaching | EndConversation):
            # Nothing runs here that a crisis answer or a goodbye would have to stop.
            return self._without_timer_offer(reply)
        if isinstance(action, StartBreathing):
            told = breathing_in_words(self.library, action.pattern,
                                      caution=not held.cautioned, lines=lines)
            held.cautioned = True
            return f"{reply.text} {told}".strip()
        timeout = self.library.timeout
        if isinstance(action, StartTimer):
            return _swap(reply.text, timeout.started.format(minutes=action.minutes),
                         lines.timer.format(minutes=action.minutes))
        if isinstance(action, CancelTimer):
            return _swap(reply.text, timeout.cancelled, lines.cancel_timer)
        if isinstance(action, ChangeRate):
            said = self.library.entry("slower" if action.factor < 1 else "faster").reply
            return _swap(reply.text, said, lines.rate)
        return f"{reply.text} {lines.exercise}".strip()  # an exercise's own command

    def _without_timer_offer(self, reply: Reply) -> str:
        """The time-out ends by offering to call back; here that becomes advice to set a
        timer. (A "yes" to it still reaches the coach, and gets `SpeakerLines.timer`.)"""
        if reply.intent.id != "time_out":
            return reply.text
        minutes = int(reply.intent.slots.get("minutes", DEFAULT_BREAK_MINUTES))
        offer = self.library.timeout.offer.format(minutes=minutes)
        if not reply.text.endswith(offer):
            return reply.text
        return f"{reply.text[:-len(offer)]}{self.lines.timer_offer.format(minutes=minutes)}"


def _swap(text: str, promise: str, instead: str) -> str:
    """The coach's line that promises an action, replaced by ours; what was said around it
    (a "thank you for letting me check" before it, a note after it) stays."""
    return text.replace(promise, instead) if promise in text else instead


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PROGRAM)
    except PackageNotFoundError:
        return "0"


# --- reading events strictly --------------------------------------------------------------------


class Malformed(Exception):
    """An event we cannot take; `fatal` when the stream can no longer be read as events."""

    def __init__(self, code: str, text: str, fatal: bool = False) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.fatal = fatal


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, None when the client has gone (also in the middle of an event), or
    Malformed. Unlike wyoming.event.async_read_event, a broken event is reported rather than
    taken for the end of the stream, and nothing larger than MAX_PART_BYTES is held."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        return None  # the end of the stream, perhaps in the middle of a line
    except asyncio.LimitOverrunError:  # longer than the reader's limit (MAX_PART_BYTES)
        if not await _skip_line(reader):
            return None
        raise Malformed("too-large", f"an event header is longer than {MAX_PART_BYTES} "
                        "bytes") from None
    header = _json_object(line, "the event header")
    data_length = _length(header, "data_length")
    payload_length = _length(header, "payload_length")
    try:
        data = await _part(reader, data_length)
        await _part(reader, payload_length)  # no event of ours carries a payload
    except asyncio.IncompleteReadError:
        log.debug("a client left in the middle of an event")
        return None
    return _event(header, data, data_length, payload_length)


async def _skip_line(reader: asyncio.StreamReader) -> bool:
    """Drop the rest of an overlong line, a buffer at a time; False if the client left."""
    while True:
        try:
            await reader.readuntil(b"\n")
            return True
        except asyncio.LimitOverrunError as error:
            await reader.readexactly(max(error.consumed, 1))
        except asyncio.IncompleteReadError:
            return False


def _length(header: dict, key: str) -> int:
    value = header.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Malformed("bad-event", f'"{key}" must be a whole number of bytes', fatal=True)
    return value


async def _part(reader: asyncio.StreamReader, length: int) -> bytes | None:
    """The bytes that follow a header; an oversized part is read and dropped, a piece at a
    time, so the stream stays readable (None)."""
    if length <= MAX_PART_BYTES:
        return await reader.readexactly(length) if length else b""
    left = length
    while left:
        left -= len(await reader.readexactly(min(left, MAX_PART_BYTES)))
    return None


def _event(header: dict, data_bytes: bytes | None, data_length: int,
           payload_length: int) -> Event:
    for length, what in ((data_length, "data"), (payload_length, "payload")):
        if length > MAX_PART_BYTES:
            raise Malformed("too-large", f"the event's {what} is {length} bytes; at most "
                            f"{MAX_PART_BYTES} are accepted")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind:
        raise Malformed("bad-event", 'the event header has no "type"')
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise Malformed("bad-event", 'the event\'s "data" is not a JSON object')
    if data_bytes:
        data = {**data, **_json_object(data_bytes, "the event's data")}
    return Event(type=kind, data=data)


def _json_object(raw: bytes, what: str) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        raise Malformed("bad-json", f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise Malformed("bad-event", f"{what} is not a JSON object")
    return value


# --- one connection ------------------------------------------------------------------------------


class CoachHandler(AsyncEventHandler):
    """Answers the events of one connection: describe, ping, and transcripts."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 service: CoachService, pool: ThreadPoolExecutor, connection_id: str) -> None:
        super().__init__(reader, writer)
        self.service = service
        self.pool = pool
        self.connection_id = connection_id  # the conversation of a client that names none

    async def run(self) -> None:
        self._is_running = True
        try:
            while self._is_running:
                try:
                    event = await asyncio.wait_for(read_event(self.reader),
                                                   CONNECTION_IDLE_SECONDS)
                except TimeoutError:
                    log.debug("closing a connection idle for %.0f s", CONNECTION_IDLE_SECONDS)
                    break
                except Malformed as problem:
                    log.info("malformed event: %s", problem.text)
                    await self.write_event(Error(problem.text, problem.code).event())
                    if problem.fatal:
                        break
                    continue
                if event is None or not await self.handle_event(event):
                    break
        except ConnectionError:
            log.debug("a client went away before its answer")
        finally:
            self.writer.close()

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self.service.info().event())
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=event.data.get("text")).event())
        elif WyomingTranscript.is_type(event.type):
            await self.write_event(await self._answer(event.data))
        else:
            await self.write_event(Error(
                f"trust-coach answers transcript, describe and ping events, not "
                f"{event.type[:40]!r}", "unknown-event").event())
        return True

    async def _answer(self, data: dict) -> Event:
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            return Error('a transcript needs its "text"', "no-text").event()
        key = self._conversation_id(data.get("context"))
        if key is None:
            return Error(f'"context" must be an object whose "conversation_id" is a string '
                         f"of at most {MAX_ID_CHARS} characters", "bad-context").event()
        held = self.service.conversations.get(key)
        try:
            async with held.lock:
                answer = await asyncio.get_running_loop().run_in_executor(
                    self.pool, self.service.turn, held, text)
        except Exception as error:  # a bug: this answer fails, the service carries on
            log.exception("internal failure answering a transcript")
            return Error(f"internal error: {type(error).__name__}", "internal").event()
        if answer.finished:
            self.service.conversations.forget(key)
        return Handled(text=answer.text,
                       context={"conversation_id": key, "intent": answer.intent}).event()

    def _conversation_id(self, context: object) -> str | None:
        """Home Assistant's conversation id; this connection's own when there is none."""
        if context is None:
            return self.connection_id
        if not isinstance(context, dict):
            return None
        named = context.get("conversation_id")
        if named is None or named == "":
            return self.connection_id
        if isinstance(named, bool) or not isinstance(named, str | int) \
                or len(str(named)) > MAX_ID_CHARS:
            return None
        return str(named)


# --- the server ----------------------------------------------------------------------------------


async def serve(service: CoachService, address: Address, *,
                ready: Callable[[Address], None], stop: asyncio.Event) -> None:
    """Listen on `address` until `stop` is set; `ready` is told the address once listening
    (with the port chosen when 0 was asked for)."""
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="coach-turn")
    connections: set[asyncio.Task] = set()
    numbers = itertools.count(1)

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            connections.add(task)
        try:
            number = next(numbers)
            log.debug("connection %d opened", number)
            await CoachHandler(reader, writer, service, pool,
                               f"connection-{uuid.uuid4().hex}").run()
        finally:
            connections.discard(task)

    server = await _listen(address, connected)
    try:
        ready(_bound(address, server))
        await stop.wait()
    finally:
        server.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()
        pool.shutdown(wait=False, cancel_futures=True)
        if address.path is not None:
            with contextlib.suppress(OSError):
                address.path.unlink()


async def _listen(address: Address, connected) -> asyncio.Server:
    try:
        if address.scheme == "unix":
            _clear_stale_socket(address.path)
            return await asyncio.start_unix_server(connected, path=str(address.path),
                                                   limit=MAX_PART_BYTES)
        return await asyncio.start_server(connected, host=address.host, port=address.port,
                                          limit=MAX_PART_BYTES)
    except OSError as error:
        raise BadInputError(f"cannot listen on {address}: {error.strerror or error}") from None


def _clear_stale_socket(path: Path) -> None:
    """A socket left by an earlier run is removed; any other file there is the person's."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise BadInputError(f"cannot listen on unix://{path}: a file that is not a socket is "
                            "already there")
    path.unlink()


def _bound(address: Address, server: asyncio.Server) -> Address:
    if address.scheme == "tcp" and server.sockets:
        return Address("tcp", address.host, server.sockets[0].getsockname()[1])
    return address
