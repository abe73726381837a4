"""The breathing page (--web), in a real headless Chromium driven over the DevTools protocol:
the circle grows while breathing in and shrinks while breathing out, phase changes land on the
cues, the crisis card shows the region's numbers; and the server stays on this machine, loads
nothing from elsewhere, and says plainly when its port is taken."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, breathe_along, recording, run_cli

from intents.coach import Coach
from intents.conversation import Conversation
from voice.audio import AudioChunk
from voice.clock import MonotonicClock
from voice.executor import LocalExecutor
from voice.settings import Settings
from voice.tts import SilentSink, Speaker
from voice.wav import read_speech_wav, write_wav
from voice.web import PacerFeed, PacerServer

CHROMIUM = Path("/usr/bin/chromium")
CIRCLE_RGB = np.array([0x2F, 0x8F, 0x83])  # --calm in the page
LANDING_LIMIT = 0.1  # seconds: a phase word shows within this of its cue's sound
MARKED = re.compile(r"<([^<>]+)>")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium")


# --- a headless browser, over the DevTools protocol ----------------------------------------------


class Browser:
    """One Chromium page. Nothing it is given can reach the network: every host name but
    127.0.0.1 fails to resolve, and no proxy is used."""

    def __init__(self, profile: Path) -> None:
        from websockets.sync.client import connect

        flags = ["--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}",
                 "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-default-apps", "--no-proxy-server",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 "--window-size=600,900", "--hide-scrollbars", "about:blank"]
        if os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run as root otherwise
        self.process = subprocess.Popen([str(CHROMIUM), *flags], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        port = _devtools_port(profile / "DevToolsActivePort", self.process)
        page = next(t for t in _get_json(port, "/json/list") if t["type"] == "page")
        self._open = ExitStack()
        self._socket = self._open.enter_context(connect(
            page["webSocketDebuggerUrl"], max_size=None, proxy=None, open_timeout=20))
        self._next_id = 0
        self.events: list[dict] = []
        self.call("Page.enable")
        self.call("Network.enable")

    def call(self, method: str, **params) -> dict:
        self._next_id += 1
        self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=30))
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, every: float = 0.01):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := self.evaluate(expression):
                return value
            time.sleep(every)
        raise AssertionError(f"not true within {timeout} s: {expression}")

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && !!window.pacer && "
                      "window.pacer.connected", timeout=20)

    def screenshot(self) -> np.ndarray:
        from PIL import Image

        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def requested(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        self._open.close()
        os.killpg(self.process.pid, signal.SIGTERM)  # its own process group, started here
        self.process.wait(timeout=10)


def _devtools_port(path: Path, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text()).count("\n") >= 1:
            return int(text.splitlines()[0])
        if process.poll() is not None:
            raise RuntimeError(f"Chromium exited with {process.returncode}")
        time.sleep(0.05)
    raise RuntimeError("Chromium did not open its DevTools port")


def _get_json(port: int, path: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    return json.loads(connection.getresponse().read())


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    page = Browser(tmp_path_factory.mktemp("chromium"))
    yield page
    page.close()


# --- measuring -----------------------------------------------------------------------------------


def circle_width(image: np.ndarray) -> int:
    """The circle's width in pixels: the widest run of its colour (the word inside it is in
    the middle, so the widest row is the diameter)."""
    mask = np.all(np.abs(image.astype(int) - CIRCLE_RGB) < 24, axis=2)
    columns = np.flatnonzero(mask.any(axis=0))
    return 0 if columns.size == 0 else int(columns[-1] - columns[0] + 1)


def landing_errors(landings: list[dict], onsets: list[tuple[float, float]]) -> list[float]:
    """For each cue onset (due, when its sound started), how much later its phase showed on
    the page (server clock). A cue whose phase never showed fails here."""
    errors = []
    for due, onset in onsets:
        shown = [mark["at"] for mark in landings if abs(mark["due"] - due) < 1e-6]
        assert shown, f"the phase due at {due:.3f} never showed; page: {landings}"
        errors.append(shown[0] - onset)
    return errors


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening_address(port: int) -> str:
    """Where a socket listening on `port` is bound, from the kernel's table (IPv4)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # LISTEN
            return socket.inet_ntoa(bytes.fromhex(address)[::-1])
    return ""


class Program:
    """The real command line, running; its stderr read as it comes."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "voice", *args], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.errors: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.errors.append(line.rstrip("\n"))

    def page_url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.errors:
                if line.startswith("breathing page: "):
                    return line.split()[2]
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no page address; stderr: {self.errors}")

    def finish(self, timeout: float = 300) -> tuple[int, str]:
        out, _ = self.process.communicate(timeout=timeout)
        self._reader.join(timeout=5)
        return self.process.returncode, out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


# --- the server ----------------------------------------------------------------------------------


def _get(server: PacerServer, path: str, host: str | None = None):
    connection = http.client.HTTPConnection(*server.address, timeout=10)
    connection.request("GET", path, headers={"Host": host} if host else {})
    return connection.getresponse()


def test_the_page_is_served_on_this_machine_only_and_loads_nothing_from_elsewhere():
    server = PacerServer(Settings().web_host, 0)
    try:
        assert server.address[0] == "127.0.0.1"
        response = _get(server, "/")
        page = response.read().decode()
        assert response.status == 200
        policy = response.getheader("Content-Security-Policy")
        assert policy.startswith("default-src 'self'; script-src 'sha256-")
        assert "unsafe-inline" not in policy and "http" not in policy
        assert not re.search(r"https?:|//[a-z0-9]", page.replace("</", ""), re.IGNORECASE)
        assert not re.search(r"\b(src|href)=", page)  # no scripts, styles or fonts to fetch
        # Another site whose name points at 127.0.0.1 must not read what was heard.
        assert _get(server, "/events", host="coach.example:80").status == 403
    finally:
        server.close()


def test_a_page_that_connects_late_gets_the_plan_under_way(library):
    from intents.breathing import schedule
    from intents.exercise import PlanChanged

    server = PacerServer("127.0.0.1", 0)
    try:
        plan = schedule(library.breathing.patterns["box"], dict(library.breathing.cues), 2)
        PacerFeed(server.hub, library, "US").on_exercise(
            PlanChanged("box", 1.0, False, tuple((100.0 + cue.at, cue) for cue in plan)))
        response = _get(server, "/events")
        assert response.getheader("Content-Type").startswith("text/event-stream")
        lines = (response.readline().decode() for _ in range(10))
        event = json.loads(next(line for line in lines if line.startswith("data: "))[6:])
        assert event["type"] == "plan" and event["title"] == "box breathing"
        assert event["rounds"] == 2 and len(event["cues"]) == 8
        assert event["cues"][1] == {"kind": "hold", "text": plan[1].text, "seconds": 4.0,
                                    "round": 1, "phase": 1, "phase_kind": "hold", "due": 104.0}
        assert event["now"] == pytest.approx(time.monotonic(), abs=1.0)
    finally:
        server.close()


def test_a_port_in_use_is_one_line_naming_it_and_the_setting(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("breathe", "--web-port", str(port), "--output", str(tmp_path / "b.wav"),
                         timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"trust-coach: port {port} is already in use, so the breathing page cannot be served; "
        "choose another with --web-port or the web_port setting"]
    assert not (tmp_path / "b.wav").exists()
    result = run_cli("listen", "--web-port", "80", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "trust-coach: --web-port must be between 1024 and 65535, not 80"


# --- in the browser -------------------------------------------------------------------------------


def test_phase_changes_land_on_the_cues_through_faster_pause_and_resume(browser, library,
                                                                        matcher):
    """The executor itself on the real clock, its cues measured where they sounded; the page
    re-plans on every change and still shows each phase within 100 ms of its cue."""
    server = PacerServer("127.0.0.1", 0)
    try:
        clock = MonotonicClock()
        feed = PacerFeed(server.hub, library, "US")
        executor = LocalExecutor(Conversation(Coach(library, matcher, "US")),
                                 Speaker(None, SilentSink()), clock, out=lambda line: None,
                                 report=lambda line: None, **feed.hooks)
        browser.open(server.url)
        start = clock.now()
        executor.start_exercise("box", rounds=1)
        # Quicker during the first breath in, a pause in the first hold, then carry on.
        breathe_along(executor, clock, [(start + 1.0, "faster"), (start + 5.0, "pause"),
                                        (start + 6.0, "resume")])
        time.sleep(0.3)
        landings = browser.evaluate("window.pacer.landings")
        heard = browser.evaluate("document.getElementById('heard').textContent")
    finally:
        server.close()
    onsets = [(onset.due, onset.actual) for onset in executor.onsets]
    assert [mark["kind"] for mark in landings] == ["in", "hold", "out", "hold"]
    # The breath out started on "resume", a sixth quicker than before "faster".
    assert onsets[2][0] - start == pytest.approx(6.0, abs=0.05)
    assert onsets[3][0] - onsets[2][0] == pytest.approx(4 / 1.2, abs=0.01)
    errors = landing_errors(landings, onsets)
    print(f"in-process: phase landings after the cue onsets (ms): "
          f"{[round(1000 * e, 1) for e in errors]}")
    assert all(abs(error) < LANDING_LIMIT for error in errors), errors
    assert heard == "resume"


def test_breathe_web_circle_grows_breathing_in_and_shrinks_breathing_out(browser, tmp_path):
    """The real command in real time: the server only on 127.0.0.1, the page fetching nothing
    but its own address, and screenshots early and late in a breath in and a breath out."""
    port = free_port()
    program = Program("breathe", "--web", "--web-port", str(port), "--pattern", "gentle",
                      "--rounds", "2", "--output", str(tmp_path / "gentle.wav"))
    try:
        url = program.page_url()
        assert url == f"http://127.0.0.1:{port}/"
        assert listening_address(port) == "127.0.0.1"
        browser.open(url)
        widths = {}
        for kind in ("in", "out"):
            for when, lo, hi in (("early", 0.0, 0.15), ("late", 0.6, 0.8)):
                browser.wait_for(f"(v => v.kind === '{kind}' && v.progress >= {lo} && "
                                 f"v.progress < {hi})(window.pacer.view)", timeout=180,
                                 every=0.005)
                widths[kind, when] = circle_width(browser.screenshot())
        word = browser.evaluate("document.getElementById('word').textContent")
        code, out = program.finish()
        time.sleep(0.2)
        landings = browser.evaluate("window.pacer.landings")
        cues = browser.evaluate("window.pacer.onsets")
        requested = browser.requested()
    finally:
        program.kill()
    assert code == 0, program.errors
    print(f"circle widths (px): {widths}")
    assert widths["in", "late"] - widths["in", "early"] > 60
    assert widths["out", "early"] - widths["out", "late"] > 60
    assert min(widths.values()) > 100 and max(widths.values()) <= 300
    assert word == "Breathe out"
    # Only this machine's pages (an earlier test's page may still be retrying its events).
    assert requested and all(u.startswith("http://127.0.0.1:") for u in requested), requested
    assert any(u.startswith(url) for u in requested), requested
    # The cues as the program played them (announced as they sounded) against the page.
    errors = landing_errors(landings, [(cue["due"], cue["onset"]) for cue in cues])
    print(f"command line: phase landings after the cue onsets (ms): "
          f"{[round(1000 * e, 1) for e in errors]}")
    assert len(errors) == 4 and all(abs(error) < LANDING_LIMIT for error in errors)
    assert sum(line.startswith("cue ") for line in out.splitlines()) == 4


def test_a_disclosure_heard_shows_the_regions_numbers_in_large_type(browser, tmp_path, library):
    speech = read_speech_wav(recording("piper-joe--crisis-hit.wav"))
    quiet = np.random.default_rng(3).normal(0, 30, 16_000).astype("<i2").tobytes()
    talk = tmp_path / "talk.wav"
    write_wav(talk, AudioChunk(quiet + speech.samples + quiet + quiet, 16_000, 2, 1))
    port = free_port()
    program = Program("listen", "--web", "--web-port", str(port), "--input", str(talk),
                      "--text-only", "--engine", "pocketsphinx", "--region", "UK")
    try:
        browser.open(program.page_url())
        browser.wait_for("!document.getElementById('crisis').hidden", timeout=180)
        numbers = browser.evaluate("[...document.querySelectorAll('#crisis .number')]"
                                   ".map(n => n.textContent)")
        sizes = browser.evaluate("[...document.querySelectorAll('#crisis .number')]"
                                 ".map(n => parseFloat(getComputedStyle(n).fontSize))")
        body = browser.evaluate("getComputedStyle(document.body).fontSize")
        card = browser.evaluate("document.getElementById('crisis').innerText")
        code, _ = program.finish()
    finally:
        program.kill()
    assert code == 0, program.errors
    uk = library.regions["UK"]
    assert numbers == MARKED.findall(uk.emergency) + [n for line in uk.hotlines
                                                      for n in MARKED.findall(line)]
    assert numbers == ["999", "116 123", "0808 2000 247"]  # the content as it stands
    assert min(sizes) >= 2 * float(body.removesuffix("px"))
    assert "Samaritans" in card and "United Kingdom" in card
