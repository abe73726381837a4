"""The PocketSphinx engine: the embedded default, using the US English model that ships inside
the pocketsphinx wheel, so it works on a fresh machine with nothing to download.

One decoder, one utterance at a time: `start()` begins an utterance on the shared decoder, and
`finish()` ends it. The loop never runs two sessions at once.
"""

from __future__ import annotations

import itertools
import logging

from common.errors import ModelError
from common.transcript import Transcript, Word
from voice.audio import AudioChunk
from voice.stt import check_speech_format

log = logging.getLogger(__name__)

FRAMES_PER_SECOND = 100  # PocketSphinx's feature frame rate
# Where each utterance's channel estimate (cepstral mean) starts: the average over 261 clean
# spoken requests (tools/cmn_prior.py). PocketSphinx's own default (40,3,-1) is far from real
# speech, and a short command is over before live estimation catches up (what it gains:
# bench/README.md).
CMN_PRIOR = "56.25,4.40,-0.01,6.95,0.89,-5.52,1.45,-8.19,-4.62,5.71,-1.54,6.14,-8.96"


class PocketSphinxEngine:
    name = "pocketsphinx"

    def __init__(self, adapt: bool = False, **config: object) -> None:
        """`config` overrides decoder settings (e.g. lm=..., dict=..., beam=...).

        `adapt` carries the cepstral mean (the channel's long-term colour) from one utterance
        to the next, as suits one microphone in one room. Without it every utterance starts
        from the same estimate, so a file gives the same transcript whatever came before it.
        """
        import pocketsphinx

        settings = {"loglevel": "FATAL", **config}
        try:
            self._decoder = pocketsphinx.Decoder(**settings)
        except (RuntimeError, ValueError, KeyError) as error:
            where = str(config.get("lm") or config.get("hmm") or pocketsphinx.get_model_path())
            raise ModelError(where, f"PocketSphinx could not load its model ({error})") from None
        self._active: PocketSphinxSession | None = None
        self.adapt = adapt
        self._initial_cmn = CMN_PRIOR

    def start(self) -> PocketSphinxSession:
        if self._active is not None and not self._active.finished:
            self._active.finish()  # a session abandoned mid-utterance; close it cleanly
        if not self.adapt:
            self._decoder.set_cmn(self._initial_cmn)
        self._decoder.start_utt()
        self._active = PocketSphinxSession(self._decoder)
        return self._active


class PocketSphinxSession:
    def __init__(self, decoder) -> None:
        self._decoder = decoder
        self.finished = False
        self._early: Transcript | None = None

    def accept(self, chunk: AudioChunk) -> None:
        check_speech_format(chunk)
        if self._early is not None:
            return  # decided early (quick): the rest is not this pass's to hear
        if chunk.samples:  # the decoder refuses an empty buffer
            self._decoder.process_raw(chunk.samples, False, False)

    def quick(self) -> Transcript:
        """The reading of the utterance so far, decided now (both decoding passes: the
        first pass's partial reading is much rougher); what follows is not heard."""
        if self._early is None:
            self._early = self._decide()
        return self._early

    def partial(self) -> str:
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def finish(self) -> Transcript:
        if self.finished:
            raise RuntimeError("this PocketSphinx session is already finished")
        self.finished = True
        return self._early if self._early is not None else self._decide()

    def _decide(self) -> Transcript:
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        if hyp is None or not hyp.hypstr.strip():
            return Transcript(text="", confidence=0.0, engine="pocketsphinx")
        words = tuple(
            Word(_clean(seg.word), seg.start_frame / FRAMES_PER_SECOND,
                 (seg.end_frame + 1) / FRAMES_PER_SECOND, float(seg.prob))
            for seg in self._decoder.seg() if _is_word(seg.word))
        return Transcript(text=hyp.hypstr, confidence=round(float(hyp.prob), 3), words=words,
                          engine="pocketsphinx",
                          alternatives=_runners_up(self._decoder, hyp.hypstr))


def _runners_up(decoder, best: str) -> tuple[str, ...]:
    """The next-best readings from the decoder's word lattice. Only the first is kept: further
    ones add more false alarms than disclosures (bench/README.md)."""
    found: list[str] = []
    for hypothesis in itertools.islice(decoder.nbest(), RUNNERS_UP + 4):
        if hypothesis is None:  # the lattice can end early
            break
        text = hypothesis.hypstr.strip()
        if text and text != best and text not in found:
            found.append(text)
    return tuple(found[:RUNNERS_UP])


RUNNERS_UP = 1


def _is_word(token: str) -> bool:
    # Fillers and silences: <s>, </s>, <sil>, [NOISE], +breath+ ...
    return not (token.startswith(("<", "[", "+")))


def _clean(token: str) -> str:
    # Alternate pronunciations come back as "word(2)".
    return token.split("(", 1)[0]
