"""The short version of `make soak`: two minutes of speech, silence and noise through the real
loop (the default recogniser, library, coach and voice). The hour's figures are in
bench/README.md."""

from __future__ import annotations

import pytest

from bench.soak import soak

pytestmark = pytest.mark.slow


def test_two_minutes_of_a_long_day():
    result = soak(2.0)
    assert result.utterances >= 12
    assert result.answered == result.turns == result.utterances  # each answered, once
    assert result.right_intent >= 0.75 * result.utterances
    assert len(result.samples) >= 6
    assert result.memory_growth_mb <= 5.0, result.samples
    assert result.threads_flat and result.files_flat, result.samples
