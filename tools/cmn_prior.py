#!/usr/bin/env python3
"""Prints the average cepstral mean of clean speech recordings, for PocketSphinx's starting
estimate (voice/pocketsphinx_engine.py, CMN_PRIOR). Usage: tools/cmn_prior.py WAV..."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pocketsphinx import Decoder

from voice.wav import read_speech_wav


def main(paths: list[str]) -> None:
    decoder = Decoder(loglevel="FATAL")
    initial = decoder.get_cmn(False)
    means = []
    for path in paths:
        audio = read_speech_wav(path)
        decoder.set_cmn(initial)
        decoder.start_utt()
        decoder.process_raw(audio.samples, False, True)
        decoder.end_utt()
        means.append([float(v) for v in decoder.get_cmn(False).split(",")])
    print(",".join(f"{v:.2f}" for v in np.mean(means, axis=0)), f"# from {len(means)} files")


if __name__ == "__main__":
    main(sys.argv[1:])
