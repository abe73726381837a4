"""The PocketSphinx engine: the embedded default, using the US English model that ships inside
the pocketsphinx wheel, so it works on a fresh machine with nothing to download.

One decoder, one utterance at a time: `start()` begins an utterance on the shared decoder, and
`finish()` ends it. The loop never runs two sessions at once.
"""

from __future__ import annotations

import logging

from voice.audio import AudioChunk
from voice.errors import ModelError
from voice.stt import Transcript, Word, check_speech_format

log = logging.getLogger(__name__)

FRAMES_PER_SECOND = 100  # PocketSphinx's feature frame rate


class PocketSphinxEngine:
    name = "pocketsphinx"

    def __init__(self, **config: object) -> None:
        """`config` overrides decoder settings (e.g. lm=..., dict=..., beam=...)."""
        import pocketsphinx

        settings = {"loglevel": "FATAL", **config}
        try:
            self._decoder = pocketsphinx.Decoder(**settings)
        except (RuntimeError, ValueError, KeyError) as error:
            where = str(config.get("lm") or config.get("hmm") or pocketsphinx.get_model_path())
            raise ModelError(where, f"PocketSphinx could not load its model ({error})") from None
        self._active: PocketSphinxSession | None = None

    def start(self) -> PocketSphinxSession:
        if self._active is not None and not self._active.finished:
            self._active.finish()  # a session abandoned mid-utterance; close it cleanly
        self._decoder.start_utt()
        self._active = PocketSphinxSession(self._decoder)
        return self._active


class PocketSphinxSession:
    def __init__(self, decoder) -> None:
        self._decoder = decoder
        self.finished = False

    def accept(self, chunk: AudioChunk) -> None:
        check_speech_format(chunk)
        self._decoder.process_raw(chunk.samples, False, False)

    def partial(self) -> str:
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def finish(self) -> Transcript:
        if self.finished:
            raise RuntimeError("this PocketSphinx session is already finished")
        self._decoder.end_utt()
        self.finished = True
        hyp = self._decoder.hyp()
        if hyp is None or not hyp.hypstr.strip():
            return Transcript(text="", confidence=0.0, engine="pocketsphinx")
        words = tuple(
            Word(_clean(seg.word), seg.start_frame / FRAMES_PER_SECOND,
                 (seg.end_frame + 1) / FRAMES_PER_SECOND, float(seg.prob))
            for seg in self._decoder.seg() if _is_word(seg.word))
        return Transcript(text=hyp.hypstr, confidence=round(float(hyp.prob), 3), words=words,
                          engine="pocketsphinx")


def _is_word(token: str) -> bool:
    # Fillers and silences: <s>, </s>, <sil>, [NOISE], +breath+ ...
    return not (token.startswith(("<", "[", "+")))


def _clean(token: str) -> str:
    # Alternate pronunciations come back as "word(2)".
    return token.split("(", 1)[0]
