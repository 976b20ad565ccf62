"""One 12-megapixel photo through the whole stage fits the function's memory: peak resident memory
of a fresh process at most 450 MB (so the function runs at 1,024 MB with room for the runtime), also
when the face search zooms into regions of a crowd."""

from __future__ import annotations

import pytest

from functions.privacy.memory import release_memory

PEAK_MB = 450


def test_a_twelve_megapixel_photo_peaks_under_450_mb_in_a_fresh_process() -> None:
    from bench.bench_privacy import stage_memory, twelve_megapixel_photo

    measured = stage_memory(twelve_megapixel_photo())
    assert measured["peak"] <= PEAK_MB, measured


def test_a_twelve_megapixel_crowd_photo_whose_zoom_pass_searches_regions_peaks_under_450_mb() -> None:
    from bench.bench_privacy import stage_memory
    from functions.privacy import faces
    from tests.fixtures.images import face_set, scenes

    case = face_set.enlarged(face_set.crowd(14, seed=4243), 3.125)
    _, candidates, scale = faces._search(case.rgb, faces.SEARCH_SIDE, faces.THRESHOLD, hint=faces.ZOOM_THRESHOLD)
    in_w, in_h = faces.input_shape(4000, 3000, faces.SEARCH_SIDE)
    window = (int(in_w / faces.zoom_scale(scale)), int(in_h / faces.zoom_scale(scale)))
    assert faces.zoom_regions(candidates, 4000, 3000, window, faces.ZOOM_REGIONS)  # the pass runs on it

    measured = stage_memory(scenes.encode_jpeg(case.rgb, quality=92))
    assert measured["peak"] <= PEAK_MB, measured


@pytest.mark.parametrize("calls", [1, 3])
def test_releasing_memory_is_harmless_anywhere(calls: int) -> None:
    for _ in range(calls):
        release_memory()
