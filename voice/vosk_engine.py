"""The Vosk (Kaldi) engine: a model loaded once, a recognizer per utterance.

Restricted vocabulary: with lookahead models (HCLr.fst + Gr.fst) Vosk accepts a JSON list of
phrases at recognizer creation and decodes only those words, plus "[unk]" for anything else,
which is what lets out-of-scope speech come out as unknown rather than as the nearest phrase.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from common.errors import ModelError
from common.transcript import Transcript, Word
from voice.audio import SPEECH_FORMAT, AudioChunk
from voice.models import check_vosk_model, supports_grammar
from voice.stt import check_speech_format

log = logging.getLogger(__name__)

UNKNOWN = "[unk]"


def _import_vosk():
    import vosk

    vosk.SetLogLevel(-1)  # Kaldi logs every load step to stderr otherwise
    return vosk


class VoskEngine:
    name = "vosk"

    def __init__(self, model_dir: Path, grammar_phrases: Iterable[str] | None = None) -> None:
        check_vosk_model(model_dir)
        vosk = _import_vosk()
        self.model_dir = model_dir
        self._vosk = vosk
        try:
            self._model = vosk.Model(str(model_dir))
        except Exception as error:  # vosk raises a bare Exception on any load failure
            raise ModelError(model_dir, f"Vosk could not load the model ({error})") from None
        self.grammar: str | None = None
        if grammar_phrases is not None:
            if supports_grammar(model_dir):
                self.grammar = build_grammar(grammar_phrases, self.knows)
                if not self.knows(UNKNOWN):
                    log.warning("%s has no %s word: in grammar mode, speech outside the "
                                "phrases is forced onto them", model_dir, UNKNOWN)
            else:
                log.warning("%s has a static HCLG graph; grammar mode is off", model_dir)

    def knows(self, word: str) -> bool:
        return self._model.vosk_model_find_word(word) >= 0

    def start(self) -> VoskSession:
        if self.grammar is None:
            recognizer = self._vosk.KaldiRecognizer(self._model, SPEECH_FORMAT.rate)
        else:
            recognizer = self._vosk.KaldiRecognizer(self._model, SPEECH_FORMAT.rate, self.grammar)
        recognizer.SetWords(True)
        return VoskSession(recognizer)


def build_grammar(phrases: Iterable[str], knows: Callable[[str], bool]) -> str:
    """A Vosk grammar (JSON list) of the phrases, keeping only words the model knows.

    A phrase with an out-of-vocabulary word would be silently dropped by Vosk, so we drop the
    word instead and keep the rest of the phrase; "[unk]" gives everything else somewhere to go.
    """
    kept: list[str] = []
    seen: set[str] = set()
    for phrase in phrases:
        words = [w for w in phrase.lower().split() if knows(w)]
        text = " ".join(words)
        if text and text not in seen:
            seen.add(text)
            kept.append(text)
    if knows(UNKNOWN):
        kept.append(UNKNOWN)
    return json.dumps(kept, ensure_ascii=False)


BLOCK_BYTES = 3200  # 0.1 s at 16 kHz, 16-bit


class VoskSession:
    """Audio goes to Vosk in fixed 0.1 s blocks whatever size it arrives in: Kaldi's online
    feature and i-vector updates run per call, so the transcript would otherwise depend on how
    the microphone happened to chunk the stream."""

    def __init__(self, recognizer) -> None:
        self._recognizer = recognizer
        self._segments: list[dict] = []
        self._pending = b""

    def accept(self, chunk: AudioChunk) -> None:
        check_speech_format(chunk)
        self._pending += chunk.samples
        while len(self._pending) >= BLOCK_BYTES:
            block, self._pending = self._pending[:BLOCK_BYTES], self._pending[BLOCK_BYTES:]
            self._feed(block)

    def _feed(self, block: bytes) -> None:
        # Vosk ends a segment on its own when it hears a long pause; keep each one.
        if self._recognizer.AcceptWaveform(block):
            self._segments.append(json.loads(self._recognizer.Result()))

    def partial(self) -> str:
        done = " ".join(s.get("text", "") for s in self._segments)
        now = json.loads(self._recognizer.PartialResult()).get("partial", "")
        return " ".join(t for t in (done, now) if t)

    def finish(self) -> Transcript:
        if self._pending:
            self._feed(self._pending)
            self._pending = b""
        self._segments.append(json.loads(self._recognizer.FinalResult()))
        words = tuple(
            Word(w["word"], float(w["start"]), float(w["end"]), float(w.get("conf", 1.0)))
            for segment in self._segments for w in segment.get("result", []))
        text = " ".join(t for s in self._segments if (t := s.get("text", "").strip()))
        known = [w for w in words if w.text != UNKNOWN]
        # Unknown words count as zero confidence: a line that is mostly [unk] is unsure.
        confidence = sum(w.confidence for w in known) / len(words) if words else 0.0
        return Transcript(text=text, confidence=round(confidence, 3), words=words, engine="vosk")
