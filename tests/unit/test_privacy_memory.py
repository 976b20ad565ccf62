"""One 12-megapixel photo through the whole stage fits the function's memory: peak resident memory
of a fresh process at most 450 MB (so the function runs at 1,024 MB with room for the runtime)."""

from __future__ import annotations

import pytest

from functions.privacy.memory import release_memory

PEAK_MB = 450


def test_a_twelve_megapixel_photo_peaks_under_450_mb_in_a_fresh_process() -> None:
    from bench.bench_privacy import stage_memory, twelve_megapixel_photo

    measured = stage_memory(twelve_megapixel_photo())
    assert measured["peak"] <= PEAK_MB, measured


@pytest.mark.parametrize("calls", [1, 3])
def test_releasing_memory_is_harmless_anywhere(calls: int) -> None:
    for _ in range(calls):
        release_memory()
