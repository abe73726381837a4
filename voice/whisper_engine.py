"""The Whisper engine: OpenAI Whisper run by CTranslate2 (int8, CPU), with a numpy log-mel front
end (the same numbers as faster-whisper's feature extractor) and tokenizers for the text.

A session buffers the utterance and transcribes it in `finish()` (Whisper is not a streaming
recogniser, so `partial()` is always ""). English is forced, without timestamps.

Whisper's encoder is built for 30 s windows; a request is 1-5 s. Padding the log-mel input only
up to `WhisperSettings.window` seconds instead cuts the encoder's time about in proportion. The
defaults in `WhisperSettings` were chosen by measurement on a development speech set: 120 texts
sampled from tests/data/eval.tsv, spoken by bench/speech_set.py's piper-joe, festival-kal and
espeak-us voices, clean, in pink noise and babble at 10 dB SNR and in a bathroom's reverberation,
fed as the product feeds them (speech span only, denoised); the comments at each field give the
numbers.

Whisper invents text for silence and noise ("Thank you.", "you"). The guards, in order:
an empty or near-silent buffer never reaches the model; then the no-speech probability together
with the average log-probability (Whisper's own rule), the gzip compression ratio (repetition
loops), and last a list of Whisper's well-known inventions that are dropped unless the decoder
was sure of them.
"""

from __future__ import annotations

import logging
import math
import re
import time
import zlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from common.transcript import Transcript
from voice.audio import AudioChunk
from voice.stt import check_speech_format
from voice.whisper_model import WhisperModel, load_whisper_model

log = logging.getLogger(__name__)

RATE = 16_000
N_FFT = 400
HOP = 160
FRAMES_PER_SECOND = RATE // HOP  # 100 mel frames per second
MAX_WINDOW = 30.0  # seconds: what the encoder was trained on
MAX_TOKENS = 448  # the decoder's context


@dataclass(frozen=True, slots=True)
class WhisperSettings:
    """How the engine decodes and what it refuses. The defaults were chosen on the development
    speech set (see the module docstring)."""

    # Seconds of log-mel input the encoder sees: the request, padded with zeros up to this.
    # 10 s: as accurate as 30 s (WER 14.5 vs 16.3 %) at a quarter of the CPU (0.19 vs 0.75 s
    # per audio second); padding only to the audio + 1 s makes Whisper repeat itself (56 of
    # 180 requests). Longer requests get a full 30 s window (past 30 s, one per 30 s).
    window: float = 10.0
    # 1: greedy. Beam 2: word error 18.1 -> 17.1 %, crisis recall 85.7 -> 88.1 % for +3 % CPU;
    # beam 5 reads more words right (15.8 %) but understood no more requests, missed more
    # disclosures (84.5 %), cost +12 % and turned more background talk into text.
    beam_size: int = 2
    patience: float = 1.0
    # Temperatures tried in turn while a guard fails (Whisper's fallback); (0.0,) = none.
    # Greedy: fires on ~4 % of requests, word error 18.1 -> 17.5 %; with beams it seldom fires
    # but still catches the occasional loop.
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    best_of: int = 2  # samples per fallback temperature
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    suppress_blank: bool = True
    # The output may have at most min_tokens + tokens_per_second x seconds tokens: requests
    # need up to 5.6 a second (median 3.3); more is a loop ("80% of 80% of 80% ...").
    tokens_per_second: float = 6.0
    min_tokens: int = 12
    # Guards. Whisper's rule: no speech if P(no speech) > no_speech_threshold and the average
    # log-probability < log_prob_threshold (both also trigger the fallback).
    no_speech_threshold: float | None = 0.6
    log_prob_threshold: float | None = -1.0
    compression_ratio_threshold: float | None = 2.4
    # Drop the text outright when its average log-probability is below this (None: never):
    # half of the background-talk clips come out below it, 2 of 360 real requests.
    drop_log_prob: float | None = -1.0
    # Texts of fewer words than this are exempt from both log-probability rules (the fallback's
    # and the drop): a lone word's average includes its full stop and end token and lands near
    # -1 even when right ("pause" at -1.01), and resampling it gives "Paws." or "Slogan.".
    min_words_for_log_prob: int = 3
    # Audio guard: below this level (dBFS, loudest 100 ms) nothing reaches the model.
    min_level_db: float | None = -50.0
    min_duration: float = 0.2  # seconds
    # Known inventions ("Thank you.") are dropped when P(no speech) is above this or the
    # average log-probability below `invented_log_prob` (None: never).
    invented_no_speech: float | None = 0.2
    invented_log_prob: float | None = -0.5
    # "Pause. Pause." / "Switch to box breathing. Switch to box breathing. Switch": what is
    # repeated back to back is kept once.
    collapse_repeats: bool = True
    seed: int = 1  # for the fallback's sampling: the same audio always gives the same text


DEFAULT_SETTINGS = WhisperSettings()

# What Whisper writes for silence, noise and music (it learnt them from subtitles). Compared
# after lower-casing and stripping punctuation.
# Words the library listens for ("bye", "okay", "no") are not on it.
KNOWN_INVENTIONS = frozenset({
    "you", "thank you", "thank you so much", "thanks", "thanks for watching",
    "thank you for watching", "thank you very much", "so", "oh", "uh", "um", "hmm", "the",
    "i", "well", "music", "applause", "laughter", "silence", "please subscribe", "subscribe",
    "like and subscribe", "see you next time", "see you in the next video", "and", "ah",
    "subtitles by the amaraorg community", "transcription by castingwords", "thank you bye",
})


def library_prompt(library_dir: Path | None = None, limit: int = 60) -> str:
    """A comma-separated list of the library's distinctive words, for `prompt=`.

    Built from the intent titles in intents/library/*.toml (the library's own wording),
    commonest English words left out."""
    import tomllib

    from intents.library import DEFAULT_LIBRARY

    folder = library_dir or DEFAULT_LIBRARY
    titles: list[str] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        _collect_titles(data, titles)
    return _prompt_from_titles(titles, limit)


def _collect_titles(node, out: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                out.append(value)
            else:
                _collect_titles(value, out)
    elif isinstance(node, list):
        for value in node:
            _collect_titles(value, out)


_PLAIN = frozenset("""a an the and or of to for in on with without that this your you my me i
it is are be was how what why when do does don't not no yes more less again going help
saying hearing stopping speaking faster slowly slower step by than""".split())


def _prompt_from_titles(titles: list[str], limit: int) -> str:
    seen: list[str] = []
    for title in titles:
        for word in re.findall(r"[a-z][a-z'-]*", title.lower()):
            if word not in _PLAIN and word not in seen:
                seen.append(word)
    return ", ".join(seen[:limit]) + "."


# --- the front end -------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = 80) -> np.ndarray:
    """Slaney-style mel filter bank, as librosa.filters.mel(sr=16000, n_fft=400, n_mels)."""
    fft_freqs = np.fft.rfftfreq(n=N_FFT, d=1.0 / RATE)
    mels = np.linspace(0.0, 45.245640471924965, n_mels + 2)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    fdiff = np.diff(freqs)
    ramps = freqs.reshape(-1, 1) - fft_freqs.reshape(1, -1)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2:n_mels + 2] - freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


def log_mel(samples: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Whisper's log-mel spectrogram of float32 samples in [-1, 1), shape (n_mels, frames):
    one frame per 10 ms, the last (partial) frame dropped, as faster-whisper feeds it."""
    audio = np.pad(samples.astype(np.float32, copy=False), (0, HOP))
    padded = np.pad(audio, (N_FFT // 2, N_FFT // 2), mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        padded, (n_frames, N_FFT), (HOP * padded.strides[0], padded.strides[0]))
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    spectrum = np.fft.rfft(frames * window, axis=-1).astype(np.complex64)
    power = (np.abs(spectrum[:-1]) ** 2).T  # (freqs, frames), last frame dropped
    mel = mel_filters(n_mels) @ power
    log_spec = np.log10(np.clip(mel, 1e-10, None))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0)[:, :-1].astype(np.float32)


def pad_frames(features: np.ndarray, frames: int) -> np.ndarray:
    if features.shape[-1] >= frames:
        return features[:, :frames]
    return np.pad(features, ((0, 0), (0, frames - features.shape[-1])))


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def level_db(samples: np.ndarray) -> float:
    """The loudest 100 ms of float samples, in dB relative to full scale."""
    size = RATE // 10
    if len(samples) == 0:
        return -120.0
    if len(samples) < size:
        return 10 * math.log10(float(np.mean(samples.astype(np.float64) ** 2)) + 1e-12)
    usable = samples[: len(samples) // size * size].astype(np.float64)
    power = (usable.reshape(-1, size) ** 2).mean(axis=1)
    return 10 * math.log10(float(power.max()) + 1e-12)


# --- decoding ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decoded:
    """One window's decode, with everything the guards look at."""

    text: str
    tokens: tuple[int, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float
    dropped: str = ""  # why the text was dropped, if it was
    encode_seconds: float = 0.0  # CPU seconds
    decode_seconds: float = 0.0


@dataclass
class Result:
    """What the engine heard in one utterance, with the details measurements need."""

    text: str
    confidence: float
    windows: list[Decoded] = field(default_factory=list)
    dropped: str = ""  # why nothing was returned ("" when text was returned)
    cpu_seconds: float = 0.0
    duration: float = 0.0


_SENTENCE = re.compile(r"[^.!?]+[.!?]*")


def collapse_repeats(text: str) -> str:
    """What Whisper says over and over is kept once: "Pause. Pause." -> "Pause.", "I can't, I
    can't, I can't" -> "I can't", "Switch to box breathing. Switch to box breathing. Switch"
    -> "Switch to box breathing." (the token limit cut the last repeat)."""
    sentences = [m.group().strip() for m in _SENTENCE.finditer(text) if m.group().strip()]
    if len(sentences) >= 2:
        key = [normalised_invention(x) for x in sentences]
        kept: list[int] = []
        for i, k in enumerate(key):
            if kept and k and k == key[kept[-1]]:
                continue
            kept.append(i)
        last = kept[-1]
        if len(kept) >= 2 and key[last] and key[kept[-2]].startswith(key[last]) and (
                not sentences[last].endswith((".", "!", "?"))):
            kept.pop()
        text = " ".join(sentences[i] for i in kept)
    # One phrase looping without full stops: "pause pause pause", "I can't, I can't, I can't".
    words = text.split()
    plain = [normalised_invention(w) for w in words]
    n = len(words)
    for period in range(1, n // 2 + 1):
        if plain[0] and all(plain[i] == plain[i % period] for i in range(n - 1)) and (
                plain[(n - 1) % period].startswith(plain[-1])):
            return " ".join(words[:period]).rstrip(",;:-")
    return text


def normalised_invention(text: str) -> str:
    return re.sub(r"[^a-z ]+", "", text.lower()).strip()


class WhisperEngine:
    name = "whisper"

    def __init__(self, model: WhisperModel | Path | str | None = None,
                 settings: WhisperSettings = DEFAULT_SETTINGS, *,
                 prompt: str | bool | None = False, intra_threads: int = 1,
                 compute_type: str = "int8") -> None:
        """`model`: a loaded WhisperModel, a model folder, or None for the installed wheels.

        `prompt`: text given to the decoder as "previous text" (Whisper's initial_prompt); True
        builds one from the library's words (`library_prompt()`), False / None: no prompt.
        """
        if isinstance(model, WhisperModel):
            self.model = model
        else:
            self.model = load_whisper_model(model, compute_type=compute_type,
                                            intra_threads=intra_threads)
        self.settings = settings
        if prompt is True:
            prompt = library_prompt()
        self.prompt_text = prompt or ""
        self._prompt_tokens: list[int] = []
        tok = self.model.tokenizer
        if self.prompt_text:
            if not tok.can_encode:
                log.warning("the Whisper model %s has no tokenizer.json: prompt ignored",
                            self.model.source)
                self.prompt_text = ""
            else:
                text_tokens = tok.encode(" " + self.prompt_text.strip())
                self._prompt_tokens = [tok.sot_prev, *text_tokens[-(MAX_TOKENS // 2 - 1):]]
        self._start = [*self._prompt_tokens, *self.model.sot_sequence(), tok.no_timestamps]

    def with_settings(self, **changes) -> WhisperEngine:
        """The same loaded model with other settings (for measurements)."""
        other = object.__new__(WhisperEngine)
        other.__dict__.update(self.__dict__)
        other.settings = replace(self.settings, **changes)
        return other

    def with_prompt(self, prompt: str | bool | None) -> WhisperEngine:
        return WhisperEngine(self.model, self.settings, prompt=prompt)

    def start(self) -> WhisperSession:
        return WhisperSession(self)

    # -- the work --

    def recognise(self, samples: np.ndarray) -> Result:
        """Float32 samples (16 kHz mono) to text, with the guards applied."""
        s = self.settings
        duration = len(samples) / RATE
        if duration < s.min_duration:
            return Result("", 0.0, dropped="too short", duration=duration)
        if s.min_level_db is not None and level_db(samples) < s.min_level_db:
            return Result("", 0.0, dropped="too quiet", duration=duration)
        windows: list[Decoded] = []
        step = int(MAX_WINDOW * RATE)
        pieces = ([samples] if duration <= MAX_WINDOW
                  else [samples[i:i + step] for i in range(0, len(samples), step)])
        for piece in pieces:
            if len(piece) / RATE >= s.min_duration and (
                    s.min_level_db is None or level_db(piece) >= s.min_level_db):
                windows.append(self.decode_window(piece))
        kept = [w for w in windows if w.text and not w.dropped]
        cpu = sum(w.encode_seconds + w.decode_seconds for w in windows)
        if not kept:
            reason = next((w.dropped for w in windows if w.dropped), "nothing heard")
            return Result("", 0.0, windows, reason, cpu, duration)
        text = " ".join(w.text for w in kept)
        mean_logprob = sum(w.avg_logprob for w in kept) / len(kept)
        confidence = min(1.0, max(0.0, math.exp(mean_logprob)))
        return Result(text, round(confidence, 3), windows, "", cpu, duration)

    def window_frames(self, seconds: float) -> int:
        window = self.settings.window if seconds <= self.settings.window else MAX_WINDOW
        return round(window * FRAMES_PER_SECOND)

    def encode(self, samples: np.ndarray):
        """The encoder's output for one window (up to 30 s of audio), and its CPU seconds."""
        import ctranslate2

        started = time.process_time()
        features = pad_frames(log_mel(samples, self.model.n_mels),
                              self.window_frames(len(samples) / RATE))
        output = self.model.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])))
        return output, time.process_time() - started

    def decode_window(self, samples: np.ndarray, encoded=None) -> Decoded:
        if encoded is None:
            encoded, encode_seconds = self.encode(samples)
        else:
            encoded, encode_seconds = encoded
        started = time.process_time()
        decoded = self._decode_with_fallback(encoded, len(samples) / RATE)
        return replace(decoded, encode_seconds=encode_seconds,
                       decode_seconds=time.process_time() - started)

    def _decode_with_fallback(self, encoded, seconds: float) -> Decoded:
        import ctranslate2

        s = self.settings
        max_new = min(MAX_TOKENS // 2, s.min_tokens + math.ceil(s.tokens_per_second * seconds))
        max_length = min(MAX_TOKENS, len(self._start) + max_new)
        tried: list[Decoded] = []
        for temperature in s.temperatures:
            if temperature > 0:
                ctranslate2.set_random_seed(s.seed)
                options = dict(beam_size=1, num_hypotheses=s.best_of, sampling_topk=0,
                               sampling_temperature=temperature)
            else:
                options = dict(beam_size=s.beam_size, patience=s.patience)
            result = self.model.model.generate(
                encoded, [self._start], max_length=max_length, return_scores=True,
                return_no_speech_prob=True, suppress_blank=s.suppress_blank,
                no_repeat_ngram_size=s.no_repeat_ngram_size,
                repetition_penalty=s.repetition_penalty, **options)[0]
            decoded = self._read(result, temperature)
            tried.append(decoded)
            if not self._needs_fallback(decoded):
                break
        else:
            repetitive = s.compression_ratio_threshold
            calm = [d for d in tried if repetitive is None or d.compression_ratio <= repetitive]
            decoded = max(calm or tried, key=lambda d: d.avg_logprob)
        return self._guard(decoded)

    def _read(self, result, temperature: float) -> Decoded:
        tokens = result.sequences_ids[0]
        # CTranslate2 returns the cumulative log-probability divided by the length (the
        # default length_penalty of 1); Whisper's average counts the end token too.
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        text = self.model.tokenizer.decode(tokens).strip()
        return Decoded(text, tuple(tokens), float(avg_logprob), float(result.no_speech_prob),
                       compression_ratio(text), temperature)

    def _silent(self, d: Decoded) -> bool:
        s = self.settings
        return (s.no_speech_threshold is not None and d.no_speech_prob > s.no_speech_threshold
                and (s.log_prob_threshold is None or d.avg_logprob < s.log_prob_threshold))

    def _judged_by_log_prob(self, d: Decoded) -> bool:
        return len(d.text.split()) >= self.settings.min_words_for_log_prob

    def _needs_fallback(self, d: Decoded) -> bool:
        s = self.settings
        if self._silent(d):
            return False
        return ((s.compression_ratio_threshold is not None
                 and d.compression_ratio > s.compression_ratio_threshold)
                or (s.log_prob_threshold is not None and d.avg_logprob < s.log_prob_threshold
                    and self._judged_by_log_prob(d)))

    def _guard(self, d: Decoded) -> Decoded:
        s = self.settings
        if not re.search(r"\w", d.text):
            return replace(d, text="", dropped="no words")
        if self._silent(d):
            return replace(d, dropped="no speech")
        if (s.compression_ratio_threshold is not None
                and d.compression_ratio > s.compression_ratio_threshold):
            return replace(d, dropped="repetitive")
        if (s.drop_log_prob is not None and d.avg_logprob < s.drop_log_prob
                and self._judged_by_log_prob(d)):
            return replace(d, dropped="unsure")
        if normalised_invention(d.text) in KNOWN_INVENTIONS and (
                (s.invented_no_speech is not None and d.no_speech_prob > s.invented_no_speech)
                or (s.invented_log_prob is not None and d.avg_logprob < s.invented_log_prob)):
            return replace(d, dropped="invented")
        if s.collapse_repeats:
            return replace(d, text=collapse_repeats(d.text))
        return d


class WhisperSession:
    def __init__(self, engine: WhisperEngine) -> None:
        self._engine = engine
        self._chunks: list[np.ndarray] = []
        self.finished = False
        self.result: Result | None = None  # details of the last finish(), for measurements

    def accept(self, chunk: AudioChunk) -> None:
        if self.finished:
            raise RuntimeError("this Whisper session is already finished")
        check_speech_format(chunk)
        if chunk.samples:
            ints = np.frombuffer(chunk.samples, dtype="<i2")
            self._chunks.append(ints.astype(np.float32) / 32768.0)

    def partial(self) -> str:
        return ""

    def dropped(self) -> str:
        """Why the last `finish` returned no text ("" when it returned some): the guard's
        reason, such as "no speech" or "invented"."""
        return "" if self.result is None else self.result.dropped

    def finish(self) -> Transcript:
        if self.finished:
            raise RuntimeError("this Whisper session is already finished")
        self.finished = True
        samples = (np.concatenate(self._chunks) if self._chunks
                   else np.zeros(0, dtype=np.float32))
        self._chunks = []
        self.result = self._engine.recognise(samples)
        if self.result.dropped and self.result.windows:
            log.debug("Whisper output dropped (%s): %r", self.result.dropped,
                      [w.text for w in self.result.windows])
        return Transcript(text=self.result.text, confidence=self.result.confidence,
                          words=(), engine=WhisperEngine.name)
