"""The breathing page (`--web`): a circle that breathes with the spoken cues, what was heard and
the reply, and the hotlines in large type when a crisis is answered.

A small HTTP server from the standard library serves one page and one Server-Sent Events
stream. The executor's observers (`PacerFeed`) turn what it does into plain dictionaries and
publish them through an `EventHub`, which hands each to every page that is connected; a page
that connects late gets the plan under way, the last turn and any crisis card at once.

Every event carries the server clock's `now` at the moment it is written, and cues carry their
due times on that same clock, so the page maps server time onto its own `performance.now()`
and animates from the plan: late events never make the circle late.

Only this machine can open the page unless the person sets `web_host` to another address.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import http.server
import ipaddress
import json
import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources

from common.errors import BadInputError, UsageError
from intents.breathing import Cue, Pattern
from intents.conversation import Turn
from intents.exercise import Event, Finished, PlanChanged, PlayCue, SayLine
from intents.library import Library, display_text

log = logging.getLogger(__name__)

HEARTBEAT = 1.0  # seconds between clock events: keep-alive, and the page refines its offset
RECONNECT_MS = 1000  # how soon a page tries again when the stream drops
PAGE_FILE = "web_page.html"
_MARKED_NUMBER = re.compile(r"<([^<>]+)>")  # phone numbers are marked <like this> in the content
_STICKY = {"plan": "plan", "finished": "plan", "turn": "turn", "crisis": "crisis"}
_CLOSED = object()  # the hub is closing: streams end


class WebPortInUse(UsageError):
    """The port for the page is taken by another program."""


class WebAddressError(BadInputError):
    """The address for the page cannot be served on this machine."""


# --- the hub -----------------------------------------------------------------------------------


class EventHub:
    """Events for every connected page. `publish` never waits on a page: each subscriber has
    its own queue, drained by its own server thread."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now  # the executor's real-time clock (time.monotonic)
        self._lock = threading.Lock()
        self._subscribers: list[queue.SimpleQueue] = []
        self._latest: dict[str, dict] = {}  # what a late joiner needs, by kind
        self._closed = False

    def publish(self, event: dict) -> None:
        with self._lock:
            if self._closed:
                return
            if (kind := _STICKY.get(event.get("type", ""))) is not None:
                self._latest[kind] = event
            for subscriber in self._subscribers:
                subscriber.put(event)

    def subscribe(self) -> queue.SimpleQueue:
        """A queue of events, starting with the current state."""
        events: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:
            for kind in ("plan", "turn", "crisis"):
                if kind in self._latest:
                    events.put(self._latest[kind])
            if self._closed:
                events.put(_CLOSED)
            else:
                self._subscribers.append(events)
        return events

    def unsubscribe(self, events: queue.SimpleQueue) -> None:
        with self._lock:
            if events in self._subscribers:
                self._subscribers.remove(events)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for subscriber in self._subscribers:
                subscriber.put(_CLOSED)
            self._subscribers.clear()


# --- what the executor does, as events ----------------------------------------------------------


class PacerFeed:
    """The executor's observers (`on_exercise`, `on_turn`), publishing to the hub."""

    def __init__(self, hub: EventHub, content: Library, region: str) -> None:
        self._hub = hub
        self._content = content
        self._region = region
        self._pattern: Pattern | None = None  # the one the latest plan is for

    @property
    def hooks(self) -> dict[str, Callable]:
        """The keyword arguments for LocalExecutor / VoiceLoop."""
        return {"on_exercise": self.on_exercise, "on_turn": self.on_turn}

    def on_exercise(self, event: Event) -> None:
        if isinstance(event, PlanChanged):
            self._pattern = self._content.breathing.patterns.get(event.pattern)
            self._hub.publish(self._plan(event))
        elif isinstance(event, PlayCue):
            # Published just before the sound starts: the onset as the server knows it.
            self._hub.publish({"type": "cue", "onset": self._hub.now(),
                               **self._cue(event.due, event.cue)})
        elif isinstance(event, SayLine):
            self._hub.publish({"type": "say", "text": event.text})
        elif isinstance(event, Finished):
            self._hub.publish({"type": "finished", "pattern": event.pattern,
                               "completed": event.completed, "ended_by": event.ended_by,
                               "at": self._hub.now()})

    def on_turn(self, turn: Turn) -> None:
        reply = turn.reply
        self._hub.publish({"type": "turn", "heard": turn.heard, "reply": reply.display,
                           "intent": reply.intent.id, "crisis": reply.intent.crisis})
        if reply.intent.crisis:
            self._hub.publish(self.crisis_card())

    def crisis_card(self) -> dict:
        """The region's numbers, from the content (the page holds none of its own)."""
        region = self._content.regions[self._region]
        return {"type": "crisis", "region": region.name,
                "emergency": _MARKED_NUMBER.findall(region.emergency),
                "hotlines": [{"text": display_text(line),
                              "numbers": _MARKED_NUMBER.findall(line)}
                             for line in region.hotlines]}

    def _plan(self, event: PlanChanged) -> dict:
        return {"type": "plan", "pattern": event.pattern,
                "title": self._pattern.title if self._pattern else event.pattern,
                "rounds": max((cue.round for _, cue in event.upcoming), default=0),
                "pace": event.pace, "paused": event.paused, "at": self._hub.now(),
                "cues": [self._cue(due, cue) for due, cue in event.upcoming]}

    def _cue(self, due: float, cue: Cue) -> dict:
        # A counting cue belongs to the phase it counts: the page animates whole phases.
        phase_kind = cue.kind
        if cue.kind == "count" and self._pattern is not None:
            phase_kind = self._pattern.phases[cue.phase].kind
        return {"kind": cue.kind, "text": cue.text, "seconds": cue.seconds,
                "round": cue.round, "phase": cue.phase, "phase_kind": phase_kind, "due": due}


# --- the server ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    html: bytes
    policy: str  # Content-Security-Policy: nothing from anywhere but this page


def load_page() -> Page:
    """The page (package data), and a policy that allows exactly its own script and style."""
    html = resources.files("voice").joinpath(PAGE_FILE).read_text(encoding="utf-8")
    hashes = {tag: " ".join(f"'sha256-{_digest(body)}'" for body in
                            re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL))
              for tag in ("script", "style")}
    policy = (f"default-src 'self'; script-src {hashes['script']}; "
              f"style-src {hashes['style']}; connect-src 'self'; img-src 'self'; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return Page(html.encode("utf-8"), policy)


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


class PacerServer:
    """Serves the page and its event stream from a daemon thread until `close`."""

    def __init__(self, host: str, port: int, hub: EventHub | None = None) -> None:
        self.hub = hub or EventHub()
        handler = _handler(self.hub, load_page(), _allowed_hosts(host))
        try:
            self._httpd = _Server((host, port), handler)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise WebPortInUse(f"port {port} is already in use, so the breathing page "
                                   "cannot be served; choose another with --web-port or the "
                                   "web_port setting") from None
            raise WebAddressError(f"cannot serve the breathing page on {host}:{port} "
                                  f"({error.strerror or error}); check the web_host "
                                  "setting") from None
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="web-page",
                                        daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.socket.getsockname()[:2]
        return host, port

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def publish(self, event: dict) -> None:
        self.hub.publish(event)

    def close(self) -> None:
        self.hub.close()  # streams end first, or shutdown would wait on them
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


def _allowed_hosts(host: str) -> frozenset[str] | None:
    """Host headers the page answers to. Bound to this machine only, just its own names: a web
    site that rebinds its own name to 127.0.0.1 must not read what was heard. Bound to the
    network (the person's choice), any address (None)."""
    try:
        if not ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        if host != "localhost":
            return None
    return frozenset({host, "localhost", "127.0.0.1", "[::1]"})


def _handler(hub: EventHub, page: Page, hosts: frozenset[str] | None):
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "trust-coach"
        sys_version = ""

        def do_GET(self) -> None:
            name = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            if hosts is not None and name not in hosts:
                self._plain(403, "forbidden")
            elif self.path == "/":
                self._page()
            elif self.path == "/events":
                self._events()
            else:
                self._plain(404, "not found")

        def _page(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page.html)))
            self._private_headers()
            self.end_headers()
            self.wfile.write(page.html)

        def _events(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self._private_headers()
            self.end_headers()
            events = hub.subscribe()
            try:
                self.wfile.write(f"retry: {RECONNECT_MS}\n\n".encode())
                while True:
                    try:
                        event = events.get(timeout=HEARTBEAT)
                    except queue.Empty:
                        event = {"type": "clock"}
                    if event is _CLOSED:
                        return
                    # Stamped as it is written: the page's best guess of the server's clock.
                    data = json.dumps({**event, "now": hub.now()}, separators=(",", ":"))
                    self.wfile.write(f"data: {data}\n\n".encode())
            except OSError:  # the page went away
                log.debug("a breathing page disconnected")
            finally:
                hub.unsubscribe(events)

        def _plain(self, status: int, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self._private_headers()
            self.end_headers()
            self.wfile.write(body)

        def _private_headers(self) -> None:
            self.send_header("Content-Security-Policy", page.policy)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("X-Content-Type-Options", "nosniff")

        def log_message(self, format: str, *args) -> None:
            pass  # requests are not logged anywhere: there is nothing to keep

    return Handler


# --- for the commands ----------------------------------------------------------------------------


@contextmanager
def serving(host: str, port: int, content: Library, region: str,
            report: Callable[[str], None]) -> Iterator[PacerFeed]:
    """The page served while the body runs; its observers for the executor."""
    server = PacerServer(host, port)
    report(f"breathing page: {server.url}{_network_note(server.address[0])}")
    try:
        yield PacerFeed(server.hub, content, region)
    finally:
        server.close()


def _network_note(host: str) -> str:
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    return "" if local else " (open to your network: use this machine's address)"


@contextmanager
def observers(settings, content: Library | None,
              report: Callable[[str], None]) -> Iterator[dict[str, Callable]]:
    """The executor's observers for a command: the page's, served meanwhile, when there is
    content to show (--web); none otherwise."""
    if content is None:
        yield {}
        return
    with serving(settings.web_host, settings.web_port, content, settings.region,
                 report) as feed:
        yield feed.hooks

