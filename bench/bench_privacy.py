"""Privacy stage: latency on a 12-megapixel photo, face and plate recall, layer size.

Usage: python bench/bench_privacy.py [--runs 10] [--seconds 165] [--out-dir build/bench]

Latency. A 4000x3000 JPEG made from a real photo (scikit-image's coffee, CC0) upscaled, with
sensor noise, the astronaut portrait (NASA, public domain) pasted in as a person and two rendered
licence plates, plus EXIF with GPS, goes through the whole stage (`process_photo`: decode, EXIF
orientation, metadata strip, face and plate detection, blur, re-encode at quality 90, output
check) on one core (cv2.setNumThreads(1); CPU seconds of the process, wall clock beside them), next to
decode + encode alone (Pillow, same quality)
in the same run. p50/p95 over --runs runs (fewer if the --seconds budget of the whole script
would be exceeded, never under 3).

Recall, on what this repository can label offline (no street photo dataset ships here):
- faces: the 100 real faces of scikit-image's LFW subset pasted at 24, 32 and 48 px on real
  photos, and the two real portraits (astronaut, Grace Hopper) as they are and shrunk so that the
  face is 24 px. A face counts as found when detector boxes cover >= 70 % of it. The crowds of
  12-16 px faces are also run as 12 MP photos (enlarged 3.125x), first pass alone and with the
  zoom pass for small faces, on the set's crowds and on held-out seeds.
- plates: synthetic plates (EU, EU yellow, US, RU designs, Hershey fonts, 4-8 degrees rotation,
  perspective skew, blur, noise) on street-like and real-photo backgrounds, by plate width. A plate
  counts as found when the boxes cover >= 90 % of its characters. The russian_plate_number
  cascade alone is measured on the same plates. These are rendered plates, not photographs: the
  numbers are an upper bound for real streets, where dirt, glare, frames and extreme angles
  are common.
- false positives: share of the frame blurred as "plate" on plate-free real photos.

Writes build/bench/privacy.json and build/bench/privacy.md; reads build/layers/imaging.json
(from `make layer`) for the layer size when it exists.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import piexif  # noqa: E402
import PIL  # noqa: E402
from PIL import Image  # noqa: E402

from functions.privacy import detection  # noqa: E402
from functions.privacy.processing import JPEG_QUALITY, process_photo  # noqa: E402
from tests.fixtures.images import face_set, scenes  # noqa: E402

RECALL_SECONDS = 100.0  # wall time the recall sets take on a busy 2-core machine, with a margin


def twelve_megapixel_photo() -> bytes:
    rng = np.random.default_rng(12)
    base = np.asarray(cv2.resize(scenes.sample("coffee"), (4000, 3000), interpolation=cv2.INTER_CUBIC),
                      dtype=np.uint8)
    person = cv2.resize(scenes.astronaut(), (900, 900), interpolation=cv2.INTER_AREA)
    base[200:1100, 2900:3800] = person
    for i, (style, width) in enumerate((("eu", 420), ("us", 300))):
        plate, text_box = scenes.render_plate("AB 123 CD" if style == "eu" else "7ABC123", width, style)
        scenes.paste_plate(base, plate, (900 + 1400 * i, 2300), angle_deg=4.0 - 8 * i, skew=0.05,
                           car_colour=(60, 70, 90), text_box=text_box)
    noisy = np.clip(base.astype(np.float64) + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    exif = piexif.dump({
        "0th": {piexif.ImageIFD.Artist: b"Bench Owner", piexif.ImageIFD.Orientation: 1},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((52, 1), (31, 1), (0, 1)),
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: ((13, 1), (24, 1), (0, 1))},
    })
    return scenes.encode_jpeg(noisy, quality=92, exif=exif)


def decode_encode(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


# VmHWM (this process's own high-water mark): ru_maxrss would include the parent's at fork.
_MEMORY_PROBE = """
import sys
import cv2
cv2.setNumThreads(1)
from functions.privacy.processing import process_photo

def high_water_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0

data = open(sys.argv[1], "rb").read()
before = high_water_kb()
process_photo(data)
print(before / 1024, high_water_kb() / 1024)
"""


def stage_memory(photo: bytes) -> dict[str, float]:
    """Peak RSS of a fresh process that imports the stage and processes the photo once."""
    with tempfile.NamedTemporaryFile(suffix=".jpg") as handle:
        handle.write(photo)
        handle.flush()
        result = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, handle.name], cwd=ROOT, check=True,
                                capture_output=True, text=True)
    before, peak = (float(v) for v in result.stdout.split())
    return {"before": round(before, 1), "peak": round(peak, 1)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def latency(runs: int, deadline: float) -> dict[str, Any]:
    """Up to `runs` runs, stopping before a run would end past `deadline` (perf_counter), at least 3."""
    photo = twelve_megapixel_photo()
    rgb = scenes.decode(photo)
    t0 = time.process_time()
    detection.detect(rgb, plates=False)
    faces_s = time.process_time() - t0
    t0 = time.process_time()
    detection.detect(rgb, faces=False)
    plates_s = time.process_time() - t0
    stage: list[float] = []  # CPU seconds of this process: one core, whatever else runs on the machine
    baseline: list[float] = []
    stage_wall: list[float] = []
    result = None
    for i in range(runs):
        expected = stage_wall[-1] * 1.2 if stage_wall else 0.0
        if i >= 3 and time.perf_counter() + expected > deadline:
            break
        c0 = time.process_time()
        decode_encode(photo)
        baseline.append(time.process_time() - c0)
        c0, t0 = time.process_time(), time.perf_counter()
        result = process_photo(photo)
        stage.append(time.process_time() - c0)
        stage_wall.append(time.perf_counter() - t0)
    assert result is not None
    # The replaced Haar stage, same photo, same run (two runs: it takes seconds each).
    haar: list[float] = []
    new_detect = detection.detect
    detection.detect = detection.detect_haar  # type: ignore[assignment]
    try:
        for _ in range(2):
            c0 = time.process_time()
            process_photo(photo)
            haar.append(time.process_time() - c0)
    finally:
        detection.detect = new_detect  # type: ignore[assignment]
    return {
        "haar_stage_s": {"p50": round(statistics.median(haar), 3), "runs": len(haar)},
        "photo": {"width": 4000, "height": 3000, "bytes": len(photo)},
        "runs": len(stage),
        "stage_s": {"p50": round(statistics.median(stage), 3), "p95": round(percentile(stage, 0.95), 3)},
        "stage_wall_s": {"p50": round(statistics.median(stage_wall), 3),
                         "p95": round(percentile(stage_wall, 0.95), 3)},
        "decode_encode_s": {"p50": round(statistics.median(baseline), 3),
                            "p95": round(percentile(baseline, 0.95), 3)},
        "one_run_breakdown_s": {"faces": round(faces_s, 3), "plates": round(plates_s, 3)},
        "memory_mb": stage_memory(photo),
        "output": {"bytes": len(result.data), "faces_blurred": result.faces_blurred,
                   "plates_blurred": result.plates_blurred, "removed": list(result.removed_metadata)},
    }


def face_recall() -> dict[str, Any]:
    """The labelled face set (tests/fixtures/images/face_set.py): new detector and Haar stage,
    by condition and by face size; a face counts when the padded boxes cover 80 % of its centre."""
    from functions.privacy.redaction import FACE_PADDING, padded

    detectors = {"new": lambda rgb: list(detection.detect(rgb, plates=False).faces),
                 "haar": lambda rgb: list(detection.detect_haar(rgb, plates=False).faces)}
    by: dict[str, dict[str, list[int]]] = {name: {} for name in detectors}
    cpu = dict.fromkeys(detectors, 0.0)
    pictures = 0
    for case in face_set.cases():
        pictures += 1
        for name, find in detectors.items():
            c0 = time.process_time()
            boxes = [padded(b, FACE_PADDING, 10**6, 10**6) for b in find(case.rgb)]
            cpu[name] += time.process_time() - c0
            for quad in case.faces:
                hit = face_set.hidden(case.rgb.shape, quad, boxes)
                for key in (case.condition, f"{case.size} px", "all"):
                    row = by[name].setdefault(key, [0, 0])
                    row[0] += hit
                    row[1] += 1
    return {"pictures": pictures, "cpu_s_per_picture": {k: round(v / pictures, 3) for k, v in cpu.items()},
            "rows": {key: {"total": total, "new": by["new"][key][0], "haar": by["haar"][key][0]}
                     for key, (_, total) in by["new"].items()}}


# (face size, seed): the labelled set's three crowds and six the tuning did not look at.
CROWDS = {"labelled set": ((12, 1050), (14, 1051), (16, 1052)),
          "fresh seeds": tuple((size, seed) for seed in (4242, 4243) for size in (12, 14, 16))}


def crowd_zoom() -> dict[str, Any]:
    """The crowds of 12-16 px faces as 12 MP photos (each 1280x960 crowd enlarged 3.125x, so the
    searched copy shows the faces at their size): the first pass alone and with the zoom pass."""
    from functions.privacy import faces
    from functions.privacy.redaction import FACE_PADDING, padded

    out: dict[str, Any] = {}
    for label, crowds in CROWDS.items():
        row: dict[str, Any] = {"pictures": 0, "faces": 0, "upright": 0, "zoom": 0, "upright_cpu_s": 0.0,
                               "zoom_cpu_s": 0.0}
        for size, seed in crowds:
            case = face_set.enlarged(face_set.crowd(size, seed), 3.125)
            row["pictures"] += 1
            row["faces"] += len(case.faces)
            for key, zoom in (("upright", 0), ("zoom", faces.ZOOM_REGIONS)):
                c0 = time.process_time()
                boxes = [padded(b, FACE_PADDING, 10**6, 10**6) for b in faces.find_faces(case.rgb, zoom=zoom)]
                row[f"{key}_cpu_s"] += time.process_time() - c0
                row[key] += sum(face_set.hidden(case.rgb.shape, quad, boxes) for quad in case.faces)
        for key in ("upright_cpu_s", "zoom_cpu_s"):
            row[key] = round(row[key] / row["pictures"], 3)
        out[label] = row
    return out


def plate_recall() -> dict[str, Any]:
    bins = {"40-70 px": (40, 70), "70-120 px": (70, 120), "120-260 px": (120, 260)}
    out: dict[str, Any] = {}
    for label, widths in bins.items():
        hits = cascade_hits = total = 0
        for seed in range(8):
            background = (None, "coffee", "rocket", None, "chelsea")[seed % 5]
            scene = scenes.plate_scene(1000 + seed, plates=3, plate_widths=widths, background=background)
            found = list(detection.detect(scene.rgb, faces=False).plates)
            cascade = list(detection.detect_haar(scene.rgb, faces=False).plates)
            for chars in scene.plate_texts:
                total += 1
                hits += scenes.coverage(chars, found) >= 0.9
                cascade_hits += scenes.coverage(chars, cascade) >= 0.9
        out[label] = {"total": total, "recall": round(hits / total, 3),
                      "cascade_only_recall": round(cascade_hits / total, 3)}
    all_total = sum(v["total"] for v in out.values())
    out["all"] = {
        "total": all_total,
        "recall": round(sum(v["recall"] * v["total"] for v in out.values()) / all_total, 3),
        "cascade_only_recall": round(sum(v["cascade_only_recall"] * v["total"] for v in out.values()) / all_total, 3),
    }
    from tests.unit.test_privacy_plates import plate_free_pictures

    false_positive_share = {}
    for name, rgb in plate_free_pictures().items():
        row = {}
        for label, find in (("new", detection.detect), ("haar", detection.detect_haar)):
            boxes = find(rgb, faces=False).plates
            covered = np.zeros(rgb.shape[:2], bool)
            for x, y, w, h in boxes:
                covered[max(0, y):y + h, max(0, x):x + w] = True
            frame = rgb.shape[0] * rgb.shape[1]
            row[label] = round(float(covered.mean()), 4)
            row[f"{label}_largest"] = round(max((w * h / frame for _, _, w, h in boxes), default=0.0), 4)
        false_positive_share[name] = row
    out["false_positive_area_share"] = false_positive_share
    return out


def layer_size() -> dict[str, Any] | None:
    report = ROOT / "build" / "layers" / "imaging.json"
    if report.exists():
        loaded: dict[str, Any] = json.loads(report.read_text())
        return loaded
    zipped = ROOT / "build" / "layers" / "imaging.zip"
    if zipped.exists():
        return {"zipped_mb": round(zipped.stat().st_size / 1048576, 1)}
    return None


def markdown(report: dict[str, Any]) -> str:
    lat = report["latency"]
    lines = [
        "# Privacy stage benchmark",
        "",
        f"Machine: {report['machine']}, one OpenCV thread. OpenCV {report['versions']['opencv']}, "
        f"Pillow {report['versions']['pillow']}, NumPy {report['versions']['numpy']}.",
        "",
        "## 12-megapixel JPEG (4000x3000)",
        "",
        "CPU seconds of the benchmark process (one OpenCV thread: one core), so that other work on the",
        "machine does not inflate them; wall-clock time of the same runs beside it.",
        "",
        "| | p50 s | p95 s |",
        "|---|---|---|",
        f"| whole stage (`process_photo`) | {lat['stage_s']['p50']} | {lat['stage_s']['p95']} |",
        f"| decode + encode alone | {lat['decode_encode_s']['p50']} | {lat['decode_encode_s']['p95']} |",
        f"| the replaced Haar stage ({lat['haar_stage_s']['runs']} runs) | {lat['haar_stage_s']['p50']} | |",
        f"| whole stage, wall clock | {lat['stage_wall_s']['p50']} | {lat['stage_wall_s']['p95']} |",
        "",
        f"{lat['runs']} runs. One run's detection alone: faces {lat['one_run_breakdown_s']['faces']} s, "
        f"plates {lat['one_run_breakdown_s']['plates']} s. Output {lat['output']['bytes']} bytes, "
        f"{lat['output']['faces_blurred']} face(s) and {lat['output']['plates_blurred']} plate region(s) blurred, "
        f"removed: {', '.join(lat['output']['removed'])}. Memory of a fresh process running the stage once: "
        f"{lat['memory_mb']['before']} MB after imports, peak {lat['memory_mb']['peak']} MB.",
        "",
        "## Face recall (labelled set: tests/fixtures/images/face_set.py)",
        "",
        f"{report['faces']['pictures']} pictures of 1280x960; CPU s per picture: "
        f"{report['faces']['cpu_s_per_picture']}.",
        "",
        "| condition or size | faces | CenterFace | Haar stage |",
        "|---|---|---|---|",
    ]
    for label, row in report["faces"]["rows"].items():
        lines.append(f"| {label} | {row['total']} | {row['new']} ({row['new'] / row['total']:.0%}) | "
                     f"{row['haar']} ({row['haar'] / row['total']:.0%}) |")
    lines += [
        "",
        "Crowds of 12-16 px faces as 12 MP photos (the 1280x960 crowd enlarged 3.125x), first pass "
        "alone / with the zoom pass, CPU s per photo:",
        "",
        "| crowds | photos | faces | first pass | with zoom | CPU first / with zoom |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in report["crowds"].items():
        lines.append(f"| {label} | {row['pictures']} | {row['faces']} | {row['upright']} | {row['zoom']} | "
                     f"{row['upright_cpu_s']} / {row['zoom_cpu_s']} |")
    lines += [
        "",
        "## Plate recall (rendered plates on street-like and real-photo backgrounds)",
        "",
        "| plate width | plates | recall (new stage) | recall (replaced stage) |",
        "|---|---|---|---|",
    ]
    for label, row in report["plates"].items():
        if label == "false_positive_area_share":
            continue
        lines.append(f"| {label} | {row['total']} | {row['recall']} | {row['cascade_only_recall']} |")
    fps = report["plates"]["false_positive_area_share"]
    lines += [
        "",
        "Plate-free pictures, share of the frame blurred as plates (largest box), new / replaced stage: "
        + ", ".join(f"{k} {v['new']:.2%} ({v['new_largest']:.2%}) / {v['haar']:.2%} ({v['haar_largest']:.2%})"
                    for k, v in fps.items()) + ".",
        "",
        "Rendered plates are not photographs: treat plate recall as an upper bound for real streets.",
        "",
        "## Layer",
        "",
    ]
    layer = report["layer"]
    if layer is None:
        lines.append("build/layers/imaging.zip not built (run `make layer`).")
    else:
        lines.append(f"imaging.zip: {layer.get('zipped_mb')} MB zipped, {layer.get('unzipped_mb', '?')} MB unzipped; "
                     f"with the privacy function: {layer.get('function_plus_layer_unzipped_mb', '?')} MB "
                     f"of Lambda's {layer.get('limit_mb', 250)} MB.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=165.0, help="time budget of the whole run")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "build" / "bench")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
        "versions": {"opencv": cv2.__version__, "pillow": PIL.__version__, "numpy": np.__version__},
    }
    # Latency first, leaving RECALL_SECONDS of the budget for the recall sets (fixed work).
    report["latency"] = latency(args.runs, started + max(30.0, args.seconds - RECALL_SECONDS))
    report["faces"] = face_recall()
    report["crowds"] = crowd_zoom()
    report["plates"] = plate_recall()
    report["layer"] = layer_size()
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "privacy.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "privacy.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
