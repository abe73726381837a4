"""The shape of the code: layers that run one way, and commands that load only what they need."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

SPEECH_STACK = ("numpy", "rapidfuzz", "pocketsphinx", "ctranslate2", "vosk")


def _imported(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """Every module the real program imports for this command line (python -X importtime)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "voice", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("command", [["timers"], ["library", "check"], ["--help"],
                                     ["listen", "--help"], ["devices"]])
def test_commands_that_need_no_speech_stack_load_none_of_it(command, tmp_path):
    import os

    modules = _imported(*command, env={**os.environ, "HOME": str(tmp_path)})
    assert "voice.__main__" in modules or "voice" in modules  # the program did run
    loaded = sorted(m for m in modules if m.split(".")[0] in SPEECH_STACK)
    assert loaded == [], loaded


def test_a_conversation_loads_the_speech_stack():
    """The check above can fail: a command that understands text does load it."""
    modules = _imported("understand", "--text", "hello")
    assert {"numpy", "rapidfuzz"} <= modules


def test_the_layers_run_one_way():
    """import-linter's contracts in pyproject.toml: bench -> voice -> intents -> common, and
    understanding never imports audio hardware or speech engines."""
    linter = shutil.which("lint-imports", path=str(ROOT / ".venv" / "bin")) or \
        shutil.which("lint-imports")
    assert linter, "import-linter is a test dependency"
    done = subprocess.run([linter], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout
