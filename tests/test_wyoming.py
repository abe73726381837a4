"""trust-coach serve: the Wyoming handle service, spoken to by the real `wyoming` client over
real sockets on 127.0.0.1, with the real library and matcher (the way Home Assistant does:
a new connection for each utterance, the conversation id in the transcript's context)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient, AsyncUnixClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong

from intents.catalog import TIPS
from intents.library import spoken_text
from voice.wyoming_service import (
    MAX_PART_BYTES,
    SPEAKER_LINES,
    Address,
    CoachService,
    Conversations,
    count_in_words,
    parse_uri,
    serve,
)

HOST = "127.0.0.1"
WAIT = 120  # seconds a client waits for an event before the test fails (a hang guard only)
DISCLOSURE = "he hits me and I'm scared to go home"
DEVELOPER_CACHE = Path.home() / ".cache"  # the embeddings built before: ~25 s saved


def _cache_home() -> Path | None:
    """The developer's cache when it has the matcher's files, else the session's own."""
    return DEVELOPER_CACHE if (DEVELOPER_CACHE / "trust-coach").is_dir() else None


def _cache_env() -> dict[str, str]:
    home = _cache_home()
    return {} if home is None else {"XDG_CACHE_HOME": str(home)}


@pytest.fixture(scope="module")
def service(library):
    from intents.matcher import IntentMatcher

    home = _cache_home()
    matcher = IntentMatcher(library, cache_dir=home / "trust-coach" if home else None)
    return CoachService(library, matcher, "US")


class ServerThread:
    """The real server on its own event loop in a thread, as `serve` runs it."""

    def __init__(self, service: CoachService, address: Address) -> None:
        self._service = service
        self._address = address
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.address: Address | None = None
        self._thread = threading.Thread(target=self._run, name="wyoming-server", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(WAIT) or self.address is None:
            raise RuntimeError(f"the server did not start: {self._failure!r}")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(WAIT)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve(self._service, self._address, ready=self._listening, stop=self._stop)

        try:
            asyncio.run(main())
        except BaseException as error:
            self._failure = error
            self._ready.set()

    def _listening(self, bound: Address) -> None:
        self.address = bound
        self._ready.set()


@pytest.fixture(scope="module")
def port(service):
    with ServerThread(service, Address("tcp", HOST, 0)) as running:
        yield running.address.port


def client(port: int) -> AsyncTcpClient:
    return AsyncTcpClient(HOST, port, connect_timeout=WAIT, read_timeout=WAIT)


async def say(port: int, text: str, conversation_id: str | None) -> Handled:
    """One utterance on a connection of its own, as Home Assistant sends it."""
    context = None if conversation_id is None else {"conversation_id": conversation_id}
    async with client(port) as c:
        await c.write_event(Transcript(text, context=context, language="en").event())
        event = await c.read_event()
    assert event is not None and Handled.is_type(event.type), event
    return Handled.from_event(event)


def conversation(port: int, *texts: str, conversation_id: str | None = None) -> list[Handled]:
    key = conversation_id or f"test-{uuid.uuid4().hex}"

    async def talk() -> list[Handled]:
        return [await say(port, text, key) for text in texts]

    return asyncio.run(talk())


def spoken(text: str) -> str:
    return spoken_text(text)


# --- describe --------------------------------------------------------------------------------


def test_describe_names_the_coach_as_an_english_handle_program(port):
    async def describe() -> Event | None:
        async with client(port) as c:
            await c.write_event(Describe().event())
            return await c.read_event()

    event = asyncio.run(describe())
    assert event is not None and Info.is_type(event.type)
    info = Info.from_event(event)
    assert not (info.asr or info.tts or info.intent or info.wake)
    [program] = info.handle
    assert program.name == "trust-coach" and program.installed
    assert not program.supports_home_control
    [model] = program.models
    assert model.installed and model.languages == ["en"]


def test_ping_is_answered_with_pong(port):
    async def ping() -> Event | None:
        async with client(port) as c:
            await c.write_event(Ping(text="hello").event())
            return await c.read_event()

    event = asyncio.run(ping())
    assert event is not None and Pong.is_type(event.type) and event.data["text"] == "hello"


# --- the conversation ------------------------------------------------------------------------


def test_a_tip_and_then_next_continue_the_topic_across_connections(port, library):
    tip, following = conversation(port, "give me a tip", "next")
    tips = [t for t in TIPS if t in library.intents]
    assert tip.context["intent"] == "tips"
    # Once a conversation, before the first ordinary answer: not a therapist, not 911.
    assert tip.text == spoken(f"{library.lines.disclaimer} {library.entry('tips').reply} "
                              f"{library.entry(tips[0]).reply}")
    assert following.context["intent"] == "next"
    assert following.text == spoken(library.entry(tips[1]).reply)
    assert tip.context["conversation_id"] == following.context["conversation_id"]


def test_a_crisis_disclosure_is_answered_with_the_hotlines_first(port, library):
    crisis, safe = conversation(port, DISCLOSURE, "yes")
    assert crisis.context["intent"] == "crisis"
    assert crisis.text == spoken(library.crisis_reply("US"))  # nothing said before it
    assert "9 1 1" in crisis.text and "9 8 8" in crisis.text
    # "Are you somewhere safe right now?" is answered in the same conversation.
    assert safe.text == spoken(library.crisis.safe_yes)


def test_the_safety_question_is_answered_by_yes_in_the_same_conversation(port, library):
    asked, answered = conversation(port, "i feel trapped", "yes")
    assert asked.text == spoken(library.lines.safety_check_unsure)
    assert answered.context["intent"] == "crisis"
    assert answered.text == spoken(library.crisis_reply("US"))
    # The same "yes" in another conversation answers nothing of the kind.
    [elsewhere] = conversation(port, "yes")
    assert elsewhere.context["intent"] == "yes" and "9 1 1" not in elsewhere.text


def test_two_conversations_at_once_are_kept_apart(port, library):
    first, second = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"

    async def both() -> tuple[list[Handled], list[Handled]]:
        opened = await asyncio.gather(say(port, "i feel trapped", first),
                                      say(port, "give me a tip", second))
        answered = await asyncio.gather(say(port, "yes", first), say(port, "next", second))
        return list(opened), list(answered)

    (asked, tip), (crisis, following) = asyncio.run(both())
    assert asked.text == spoken(library.lines.safety_check_unsure)
    assert tip.context["intent"] == "tips"
    assert crisis.text == spoken(library.crisis_reply("US"))
    assert following.context["intent"] == "next" and "9 1 1" not in following.text
    assert {crisis.context["conversation_id"], following.context["conversation_id"]} == \
        {first, second}


def test_many_conversations_at_once_each_get_their_own_answer(port, library):
    keys = [f"many-{i}-{uuid.uuid4().hex}" for i in range(8)]
    texts = [DISCLOSURE if i % 2 else "give me a tip" for i in range(len(keys))]

    async def all_at_once() -> list[Handled]:
        return list(await asyncio.gather(*(say(port, t, k) for t, k in zip(texts, keys,
                                                                              strict=True))))

    for i, answer in enumerate(asyncio.run(all_at_once())):
        assert answer.context["conversation_id"] == keys[i]
        assert answer.context["intent"] == ("crisis" if i % 2 else "tips")


def test_without_a_conversation_id_the_connection_is_the_conversation(port, library):
    async def one_connection() -> tuple[Handled, Handled, Handled]:
        async with client(port) as c:
            replies = []
            for text in ("give me a tip", "next"):
                await c.write_event(Transcript(text).event())
                replies.append(Handled.from_event(await c.read_event()))
        return (*replies, await say(port, "next", None))  # a new connection starts afresh

    tip, following, afresh = asyncio.run(one_connection())
    tips = [t for t in TIPS if t in library.intents]
    assert following.text == spoken(library.entry(tips[1]).reply)
    assert tip.context["conversation_id"] == following.context["conversation_id"]
    assert afresh.context["conversation_id"] != tip.context["conversation_id"]
    assert library.entry("next").reply in afresh.text  # nothing to go on with


# --- what a satellite cannot do, said in words -----------------------------------------------


def test_a_breathing_request_is_answered_in_words(port, library):
    gentle = library.breathing.patterns["gentle"]
    calm, box, stop = conversation(port, "help me calm down", "box breathing", "stop")
    assert calm.context["intent"] == "calm_down"
    assert spoken(library.entry("calm_down").reply) in calm.text
    assert library.breathing.lines.caution in calm.text
    counts = [count_in_words(p.seconds) for p in gentle.phases]  # the pattern's own lengths
    assert all(f"for {c}" in calm.text or f"of {c}" in calm.text for c in counts)
    assert "box breathing" in box.text and box.text.count("hold for four") == 2
    assert library.breathing.lines.caution not in box.text  # once a conversation
    # No exercise was started: "stop" is an ordinary request, not an exercise's command.
    assert stop.context["intent"] == "stop" and stop.text == spoken(library.entry("stop").reply)


def test_the_break_timer_and_the_speaking_rate_are_answered_in_words(port, library):
    time_out, yes, slower = conversation(port, "we keep fighting", "yes", "slow down")
    assert library.timeout.offer.format(minutes=20) not in time_out.text
    assert time_out.text.endswith(SPEAKER_LINES.timer_offer.format(minutes=20))
    assert yes.text == SPEAKER_LINES.timer.format(minutes=20)
    assert slower.context["intent"] == "slower" and slower.text == SPEAKER_LINES.rate


# --- malformed events and clients that go away -----------------------------------------------


def _header(event_type: str, data: dict | None = None, **lengths: int) -> bytes:
    return json.dumps({"type": event_type, "data": data or {}, **lengths}).encode() + b"\n"


MALFORMED = {
    "bad-json": b"{this is not json\n",
    "unknown-event": _header("synthesize", {"text": "hello"}),
    "no-text": _header("transcript", {"context": {"conversation_id": "x"}}),
    "too-large": _header("transcript", {"text": "hi"}, payload_length=MAX_PART_BYTES + 1)
    + b"\0" * (MAX_PART_BYTES + 1),
    "bad-context": _header("transcript", {"text": "hi", "context": ["not", "an", "object"]}),
}


@pytest.mark.parametrize("code", sorted(MALFORMED))
def test_a_malformed_event_gets_an_error_and_the_server_keeps_answering(port, code):
    async def send_then_ask() -> tuple[Event | None, Event | None, Handled]:
        async with client(port) as c:
            c._writer.write(MALFORMED[code])  # bytes no well-behaved client would write
            error = await c.read_event()
            await c.write_event(Transcript("give me a tip").event())  # same connection
            after = await c.read_event()
        return error, after, await say(port, "give me a tip", None)

    error, after, elsewhere = asyncio.run(send_then_ask())
    assert error is not None and Error.is_type(error.type)
    assert Error.from_event(error).code == code and Error.from_event(error).text
    assert after is not None and Handled.is_type(after.type)
    assert elsewhere.context["intent"] == "tips"


def test_a_header_longer_than_the_limit_gets_an_error_and_others_are_still_served(port):
    async def long_line() -> tuple[Event | None, Handled]:
        async with client(port) as c:
            c._writer.write(b'{"type": "transcript", "pad": "' + b"x" * (2 * MAX_PART_BYTES))
            c._writer.write(b'"}\n')
            error = await c.read_event()
        return error, await say(port, "give me a tip", None)

    error, elsewhere = asyncio.run(long_line())
    assert error is not None and Error.from_event(error).code == "too-large"
    assert elsewhere.context["intent"] == "tips"


def test_a_client_that_leaves_in_the_middle_of_an_event_does_not_hurt_the_server(port, library):
    key = f"left-{uuid.uuid4().hex}"

    async def leave_midway() -> Handled:
        first = await say(port, "i feel trapped", key)
        assert first.text == spoken(library.lines.safety_check_unsure)
        for partial in (_header("transcript", {"text": "yes"}, payload_length=1000) + b"abc",
                        _header("transcript", data_length=500) + b'{"text": "y',
                        b'{"type": "transcr'):
            _, writer = await asyncio.open_connection(HOST, port)
            writer.write(partial)
            await writer.drain()
            writer.close()  # gone, with the event half sent
            await writer.wait_closed()
        return await say(port, "yes", key)

    answered = asyncio.run(leave_midway())
    assert answered.text == spoken(library.crisis_reply("US"))  # the conversation survived


def test_a_unix_socket_serves_too(service, tmp_path):
    path = tmp_path / "coach.sock"

    async def describe() -> Event | None:
        async with AsyncUnixClient(path, connect_timeout=WAIT, read_timeout=WAIT) as c:
            await c.write_event(Describe().event())
            return await c.read_event()

    with ServerThread(service, parse_uri(f"unix://{path}")):
        event = asyncio.run(describe())
    assert event is not None and Info.is_type(event.type)
    assert not path.exists()  # let go when stopped


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_serve_from_the_command_line_answers_and_stops_cleanly(library, stop_with):
    env = {**os.environ, **_cache_env()}
    process = subprocess.Popen(
        [sys.executable, "-m", "voice", "serve", "--uri", f"tcp://{HOST}:0"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # printed once listening
        assert f"tcp://{HOST}:" in line, (line, process.poll())
        port = int(line.split(f"tcp://{HOST}:")[1].split()[0])
        crisis, safe = conversation(port, DISCLOSURE, "yes")
        assert crisis.text == spoken(library.crisis_reply("US"))
        assert safe.text == spoken(library.crisis.safe_yes)
        process.send_signal(stop_with)
        out, err = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err
    assert out == ""  # the one line, already read


@pytest.mark.parametrize("uri", ["http://127.0.0.1:10600", "tcp://127.0.0.1",
                                 "tcp://127.0.0.1:99999", "tcp://:10600", "unix://",
                                 "127.0.0.1:10600", "stdio://"])
def test_a_bad_uri_is_one_line_and_exit_2(uri):
    result = run_cli("serve", "--uri", uri)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--uri" in result.stderr
    assert result.stdout == ""


def test_an_address_in_use_is_one_line_and_exit_2(port):
    result = run_cli("serve", "--uri", f"tcp://{HOST}:{port}", env=_cache_env())
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "cannot listen" in result.stderr


# --- the pieces ------------------------------------------------------------------------------


def test_uris_are_read_as_tcp_or_unix():
    assert parse_uri("tcp://127.0.0.1:10600") == Address("tcp", "127.0.0.1", 10600)
    assert str(parse_uri("tcp://[::1]:10600")) == "tcp://[::1]:10600"
    assert parse_uri("unix:///run/coach.sock") == Address("unix", path=Path("/run/coach.sock"))


def test_conversations_are_forgotten_when_idle_and_beyond_the_limit(library, service):
    now = [0.0]
    store = Conversations(service.new_conversation, idle_seconds=300, limit=3,
                          clock=lambda: now[0])
    first = store.get("a")
    now[0] = 299.0
    assert store.get("a") is first  # still there, and used again
    for key in ("b", "c", "d"):
        store.get(key)
    assert "a" not in store and len(store) == 3  # the one idle longest went first
    now[0] = 299.0 + 301
    store.get("e")
    assert len(store) == 1 and "e" in store
