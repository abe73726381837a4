"""`trust-coach understand`: what the program makes of WAV files or text, one JSON object per
input with --json. Each input is its own conversation; the model is loaded once for all."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from common.errors import EXIT_BAD_INPUT, EXIT_OK, AudioFileError, TrustCoachError, UsageError
from common.transcript import Transcript, typed
from voice import wiring
from voice.settings import Settings

MAX_RECORDING = 600.0  # seconds: one request, held in memory whole


def run(settings: Settings, files: Sequence[Path], texts: Sequence[str], as_json: bool) -> int:
    from intents.coach import Coach
    from voice.listening import transcribe_recording
    from voice.wav import read_speech_wav, read_wav_info

    if not files and not texts:
        raise UsageError("understand: give WAV files or --text")
    content = wiring.library(settings)
    matcher = wiring.matcher(settings, content)
    wiring.check_region(settings, content)  # an unknown region fails before any work
    engine = wiring.engine(settings, content) if files else None

    def interpret(name: str, transcript: Transcript, extra: dict) -> None:
        coach = Coach(content, matcher, settings.region)  # each input is its own conversation
        reply = coach.reply_to(coach.understand(transcript))
        _emit(_record(name, transcript, reply, extra), as_json)

    failures = 0
    for text in texts:
        interpret(text, typed(text), {})
    for path in files:
        started = time.perf_counter()
        try:
            if (seconds := read_wav_info(path).duration) > MAX_RECORDING:
                raise AudioFileError(path, f"{seconds / 60:.0f} minutes long; understand takes "
                                     f"one request of at most {MAX_RECORDING / 60:.0f} minutes "
                                     "(listen --input hears a long recording)")
            audio = read_speech_wav(path)
        except TrustCoachError as error:
            failures += 1
            wiring.print_error(f"trust-coach: {error}")
            if as_json:
                _emit({"input": str(path), "error": str(error)}, as_json)
            continue
        transcript = transcribe_recording(engine, audio, settings.endpoint,
                                          denoise=settings.denoise)
        interpret(str(path), transcript, {
            "engine": transcript.engine, "asr_confidence": transcript.confidence,
            "heard_otherwise": list(transcript.alternatives),
            "audio_seconds": round(audio.duration, 3),
            "processing_seconds": round(time.perf_counter() - started, 3)})
    return EXIT_BAD_INPUT if failures else EXIT_OK


def _record(name: str, transcript: Transcript, reply, extra: dict) -> dict:
    intent = reply.intent
    return {"input": name, "transcript": transcript.text, "intent": intent.id,
            "confidence": intent.confidence, "crisis": intent.crisis,
            "possible_crisis": intent.possible_crisis.text if intent.possible_crisis else "",
            "reply": reply.display, "slots": dict(intent.slots),
            "alternatives": [{"intent": i, "confidence": c} for i, c in intent.alternatives],
            **extra}


def _emit(record: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(record, ensure_ascii=False), flush=True)
    elif "error" not in record:
        print(f'{record["input"]}: heard "{record["transcript"]}" -> {record["intent"]} '
              f'({record["confidence"]:.2f}) -> "{record["reply"]}"', flush=True)
