"""Privacy, shown rather than promised: the program run as a person runs it, with every
network call of the process and its children written down, and its folders searched afterwards
for anything it heard.

Each command runs under strace, which sees the system calls of native libraries and child
processes too (a guard in Python would not see onnxruntime's own uploader, which is how its
telemetry was found: see common/offline.py), and, where the machine allows, in a network
namespace of its own, which has no network at all: the program must work there unchanged.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import ROOT, recording

# Asking for a connection (or sending a datagram) anywhere on the internet, or looking up a
# name through the name service cache daemon.
NETWORK_CALL = re.compile(r"\b(connect|sendto|sendmsg|sendmmsg)\(.*(AF_INET6?\b|nscd)")

pytestmark = pytest.mark.skipif(shutil.which("strace") is None,
                                reason="strace is not installed (make test installs it)")


def _namespace_allowed() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True,
                          check=False).returncode == 0


@pytest.fixture
def watched(tmp_path):
    """Folders of a fresh user, and a way to run the program watched."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_STATE_HOME": str(home / ".local/state"),
           "XDG_DATA_HOME": str(home / ".local/share")}
    for key in [key for key in env if key.startswith(("ORT_", "HF_", "TRANSFORMERS_"))]:
        del env[key]  # the program must keep itself offline, not the test's environment
    # The sentence model's vectors are built on first use; copied so that is not redone here.
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trust-coach"
    if cache.is_dir():
        shutil.copytree(cache, home / ".cache" / "trust-coach")
    trace = tmp_path / "trace.log"
    isolated = _namespace_allowed()

    def run(*args: str, stdin: str | None = None, offline: bool = True
            ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        command = ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg",
                   "-o", str(trace), sys.executable, "-m", "voice", *args]
        if offline and isolated:
            command = ["unshare", "--net", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                cwd=ROOT, input=stdin, check=False, env=env)
        calls = [line for line in trace.read_text().splitlines() if NETWORK_CALL.search(line)]
        return result, calls

    return run, home


SECRET = "my partner hid the pineapple invoice"  # words no cache of ours could hold otherwise

COMMANDS = {
    "listen": (["listen", "--input", str(recording("piper-joe--causes.wav")), "--text-only"],
               None),
    "understand": (["understand", str(recording("piper-joe--tips.wav"))], None),
    "breathe": (["breathe", "--pattern", "gentle", "--rounds", "1", "--input",
                 str(recording("piper-joe--cmd-stop.wav")), "--output", "{out}/breathing.wav"],
                None),
    "chat": (["chat"], f"hello\n{SECRET}\nhow do I use I statements\nhe hits me\nbye\n"),
}


def _arguments(name: str, out: Path) -> tuple[list[str], str | None]:
    args, stdin = COMMANDS[name]
    return [arg.format(out=out) for arg in args], stdin


def test_no_command_that_listens_or_talks_touches_the_network_or_keeps_what_it_heard(
        watched, tmp_path):
    run, home = watched
    for name in sorted(COMMANDS):
        args, stdin = _arguments(name, tmp_path)
        result, calls = run(*args, stdin=stdin)
        assert result.returncode == 0, (name, result.stderr)
        assert calls == [], (name, calls)  # not one attempt, let alone a connection
        if name == "chat":
            assert "intent: crisis" in result.stdout  # the hotlines came from the machine
    kept = [path for path in home.rglob("*") if path.is_file()
            and (path.suffix == ".wav" or b"pineapple" in path.read_bytes())]
    assert kept == []
    assert not (home / ".cache" / "Microsoft").exists()  # no device id for anyone's telemetry
    assert not any(p.suffix in {".jsonl", ".sqlite", ".db"} for p in home.rglob("*"))


class _ModelServer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(404, "Not Found")

    def log_message(self, *args):
        pass


def test_a_model_download_connects_and_the_watch_sees_it(watched, tmp_path):
    """The one command that may connect: the same watch sees its connection, so the test
    above could fail."""
    run, _ = watched
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ModelServer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    try:
        catalog = tmp_path / "catalog.toml"
        catalog.write_text(
            f'[[model]]\nname = "m"\nengine = "vosk"\nlanguage = "en"\n'
            f'url = "http://127.0.0.1:{port}/m.zip"\nsize_mb = 1\n'
            f'description = "a model on this machine"\n')
        result, calls = run("models", "download", "m", "--catalog", str(catalog),
                            "--models-dir", str(tmp_path / "models"), offline=False)
    finally:
        httpd.shutdown()
    assert result.returncode == 1 and "server answered 404 Not Found" in result.stderr
    assert any(f"sin_port=htons({port})" in call and "127.0.0.1" in call for call in calls)


# --- crisis replies cannot be turned off ---------------------------------------------------------

DISCLOSURE = "he hits me when he drinks and I'm scared to go home"


@pytest.mark.parametrize("setting", ["crisis = false", "safety = false", "hotlines = false",
                                     'crisis_reply = ""'])
def test_there_is_no_setting_that_turns_crisis_replies_off(watched, setting):
    run, home = watched
    settings = home / ".config" / "trust-coach" / "settings.toml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(setting + "\n", encoding="utf-8")
    result, _ = run("understand", "--text", DISCLOSURE)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"unknown setting '{setting.split()[0]}'; known: "
                                          "region, engine, model, grammar, denoise, device, "
                                          "output_device, voice, rate, tone, count, wake, "
                                          "wake_phrase, follow_up, web_host, web_port")


def test_every_setting_at_its_edge_still_answers_a_disclosure_with_hotlines(watched):
    run, home = watched
    settings = home / ".config" / "trust-coach" / "settings.toml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('region = "UK"\nengine = "pocketsphinx"\ngrammar = true\n'
                        'denoise = false\ntone = true\ncount = true\nrate = 90\n',
                        encoding="utf-8")
    for extra in ([], ["--threshold", "1.0"], ["--threshold", "0.0"], ["--json"]):
        result, _ = run("understand", "--text", DISCLOSURE, *extra)
        assert result.returncode == 0, result.stderr
        said = (json.loads(result.stdout)["intent"] if extra == ["--json"]
                else result.stdout.split(" -> ")[1].split(" (")[0])
        assert said == "crisis", (extra, result.stdout)
        assert "999" in result.stdout  # the UK's emergency number, the region set above
