"""`make package`: the Chalice app as a CloudFormation (SAM) template, completed by our merge template, linted.

    python -m infra.package [--stage dev|prod] [--out build/package] [--skip-lint]

0. Copy the project Chalice packages (app.py, chalicelib/, vendor/, .chalice/ settings, requirements.txt)
   without bytecode into build/chalice-project/, so the zip holds sources only and stays reproducible.
1. `chalice package` once without a merge template, to read the logical names Chalice generates.
2. Write build/chalice-merge.<stage>.json: infra/chalice-merge.yaml with the stage pinned, plus the
   per-function patch (FunctionName, log group, the Anthropic and crypto layers, ReportBatchItemFailures and
   MaximumConcurrency = the reservation of infra/capacity.py on every SQS event source).
   JSON, because a YAML merge template would switch Chalice's output to sam.yaml.
3. `chalice package --merge-template build/chalice-merge.<stage>.json` into --out (sam.json + deployment.zip).
4. Check the result (every SQS source reports batch item failures; no dev or imaging modules in the zip),
   write the Anthropic and crypto layers (layers/<name>/requirements.txt, minus what deployment.zip already
   holds) next to sam.json, write build/privacy/function.zip when functions/privacy/handler.py exists, and run
   cfn-lint on the stack templates and the packaged template.

Needs no AWS credentials: Chalice only reads the region to name the Lambda service principal; the
template itself uses pseudo parameters. Chalice caches its build by a hash of requirements.txt and the
app's sources; we keep the dependencies by a hash of requirements.txt alone (build/chalice-deps/), so
only the first run after requirements.txt changes downloads wheels from PyPI.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import MERGE_TEMPLATE, ROOT, standalone_templates

BUILD_DIR = ROOT / "build"
DEFAULT_OUT = BUILD_DIR / "package"
PROJECT_COPY = BUILD_DIR / "chalice-project"
DEPENDENCY_CACHE = BUILD_DIR / "chalice-deps"
PRIVACY_HANDLER = ROOT / "functions" / "privacy" / "handler.py"
PRIVACY_ZIP = BUILD_DIR / "privacy" / "function.zip"
ANTHROPIC_REQUIREMENTS = ROOT / "layers" / "anthropic" / "requirements.txt"
ANTHROPIC_LAYER_ZIP = "anthropic-layer.zip"  # written next to sam.json: the template's ContentUri
# AES-GCM for personal columns (cryptography and cffi): a layer on every function, the API handler included.
CRYPTO_REQUIREMENTS = ROOT / "layers" / "crypto" / "requirements.txt"
CRYPTO_LAYER_ZIP = "crypto-layer.zip"
LAYER_CACHE = BUILD_DIR / "layer-deps"  # one directory per layer
# The function that does without the Anthropic layer: the API never calls Layer B (docs/scaling.md).
WITHOUT_ANTHROPIC_LAYER = frozenset({"APIHandler"})
# bytes, deployment.zip (docs/scaling.md, "The API package"): 13.5 MB before personal-data protection,
# then the phone matcher (lite build); AES-GCM (cryptography, 4.7 MB zipped) lives in the crypto layer.
API_PACKAGE_BUDGET = 15_000_000
PRIVACY_EXCLUDED_TOP_LEVEL = frozenset({"boto3", "botocore", "s3transfer", "hyperscan", "hyperscan.libs"})
STAGES = ("dev", "prod")

# Any region works: nothing is called, and the template uses ${AWS::Region}.
PACKAGING_REGION = "us-east-1"
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
MAX_FUNCTION_NAME = 64

# Top-level names in the zip that must never ship in the API package: imaging lives in its layer,
# the rest are development tools.
FORBIDDEN_TOP_LEVEL = re.compile(r"^(cv2|opencv|pil|pillow|numpy|pgserver|moto|_?pytest)([._-]|$)", re.IGNORECASE)

# What packaging may see of the caller's environment: network and pip settings, never AWS or app settings.
_PASSTHROUGH = {
    "PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
}


class PackagingError(RuntimeError):
    """The app cannot be packaged, or the package breaks one of our deployment rules."""


@dataclass(frozen=True)
class PackageResult:
    stage: str
    template: Path
    deployment_zip: Path
    merge_template: Path
    privacy_zip: Path | None
    seconds: float

    @property
    def zip_bytes(self) -> int:
        return self.deployment_zip.stat().st_size


def chalice_environment() -> dict[str, str]:
    """A clean environment for `chalice package`: no credentials, no profile, no app settings."""
    env = {k: v for k, v in os.environ.items() if k in _PASSTHROUGH or k.startswith("PIP_")}
    env.update(
        AWS_DEFAULT_REGION=PACKAGING_REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def stage_project(destination: Path = PROJECT_COPY) -> Path:
    """A copy of what Chalice packages, without bytecode; keeps Chalice's cache (.chalice/deployments/)."""
    no_bytecode = shutil.ignore_patterns("__pycache__", "*.pyc")
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("app.py", "requirements.txt"):
        shutil.copyfile(ROOT / name, destination / name)
    for name in ("chalicelib", "vendor"):
        shutil.rmtree(destination / name, ignore_errors=True)
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, destination / name, ignore=no_bytecode)
    settings = destination / ".chalice"
    settings.mkdir(exist_ok=True)
    for stale in settings.glob("*.json"):
        stale.unlink()
    for source in (ROOT / ".chalice").glob("*.json"):
        shutil.copyfile(source, settings / source.name)
    return destination


def _dependency_key(project: Path) -> str:
    digest = hashlib.sha256((project / "requirements.txt").read_bytes())
    vendor = project / "vendor"
    for path in sorted(vendor.rglob("*")) if vendor.is_dir() else []:
        if path.is_file():
            digest.update(path.relative_to(vendor).as_posix().encode())
            digest.update(path.read_bytes())
    return f"{digest.hexdigest()[:32]}-python{sys.version_info.major}.{sys.version_info.minor}"


def _chalice_cache_file(project: Path) -> Path:
    """Where Chalice looks for a ready package of these exact sources and requirements."""
    from chalice.deploy.packager import DependencyBuilder, LambdaDeploymentPackager
    from chalice.utils import UI, OSUtils

    packager = LambdaDeploymentPackager(OSUtils(), DependencyBuilder(OSUtils()), UI())
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return Path(packager.deployment_package_filename(str(project), python))


def seed_chalice_cache(project: Path) -> bool:
    """Give Chalice a package of these sources built from cached dependencies; True if it was seeded.

    Chalice would rebuild every dependency whenever an app file changes; the dependencies only depend on
    requirements.txt (and vendor/), so a package built earlier with the same ones is reused with the
    current sources injected, as Chalice itself does when only the app changed.
    """
    from chalice.deploy.packager import DependencyBuilder, LambdaDeploymentPackager
    from chalice.utils import UI, OSUtils

    target = _chalice_cache_file(project)
    cached = DEPENDENCY_CACHE / f"{_dependency_key(project)}.zip"
    if target.exists() or not cached.exists():
        return False
    for stale in target.parent.glob("*.zip"):
        stale.unlink()  # one package per sources: the others are dead weight (tens of MB each)
    shutil.copyfile(cached, target)
    packager = LambdaDeploymentPackager(OSUtils(), DependencyBuilder(OSUtils()), UI(out=io.StringIO()))
    packager.inject_latest_app(str(target), str(project))
    return True


def remember_dependencies(project: Path) -> None:
    """Keep the package Chalice built under the requirements' hash (one per requirements)."""
    built = _chalice_cache_file(project)
    if not built.exists():
        return
    DEPENDENCY_CACHE.mkdir(parents=True, exist_ok=True)
    cached = DEPENDENCY_CACHE / f"{_dependency_key(project)}.zip"
    if not cached.exists():
        for stale in DEPENDENCY_CACHE.glob("*.zip"):
            stale.unlink()
        shutil.copyfile(built, cached)


def run_chalice_package(project: Path, stage: str, out_dir: Path, merge_template: Path | None = None) -> Path:
    """Run the venv's `chalice package` on project into out_dir (emptied first); returns the template path."""
    chalice = Path(sys.executable).with_name("chalice")
    if not chalice.exists():
        raise PackagingError(f"{chalice} not found: run `make package` (it installs the virtualenv)")
    shutil.rmtree(out_dir, ignore_errors=True)
    command = [str(chalice), "--project-dir", str(project), "package", "--stage", stage]
    command += ["--pkg-format", "cloudformation"]
    if merge_template is not None:
        command += ["--merge-template", str(merge_template)]
    command.append(str(out_dir))
    done = subprocess.run(command, cwd=project, env=chalice_environment(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackagingError(f"chalice package failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    template = out_dir / "sam.json"
    if not template.exists():
        raise PackagingError(f"chalice package wrote no {template}:\n{done.stdout}")
    return template


def load_yaml_template(path: Path) -> dict[str, Any]:
    """A CloudFormation YAML template with short-form tags (!Sub, !GetAtt...) as plain long-form JSON data."""
    from cfnlint.decode import cfn_yaml

    loaded = cfn_yaml.load(str(path))
    plain: dict[str, Any] = json.loads(json.dumps(loaded))
    return plain


def load_template(path: Path) -> dict[str, Any]:
    if path.suffix == ".json":
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return load_yaml_template(path)


def sqs_event_sources(template: dict[str, Any]) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
    """Every SQS event source: (function or mapping logical id, SAM event name or None, its properties).

    Covers SAM `Events` of type SQS (what Chalice writes) and plain AWS::Lambda::EventSourceMapping
    resources whose source is an SQS queue.
    """
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        properties = resource.get("Properties", {})
        if kind == "AWS::Serverless::Function":
            for event_name, event in properties.get("Events", {}).items():
                if event.get("Type") == "SQS":
                    yield logical_id, event_name, event.get("Properties", {})
        elif kind == "AWS::Lambda::EventSourceMapping" and ":sqs:" in json.dumps(properties.get("EventSourceArn")):
            yield logical_id, None, properties


def function_name(stage: str, logical_id: str) -> str:
    return f"peerguard-{stage}-{logical_id}"


def sqs_maximum_concurrency(stage: str) -> dict[str, int]:
    """Logical id -> the reserved concurrency .chalice/config.json gives the function in this stage."""
    from chalice.utils import to_cfn_resource_name

    from infra.capacity import configured

    reserved, _ = configured(stage)
    return {to_cfn_resource_name(name): value for name, value in reserved.items()}


def generated_patch(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """The part of the merge template that depends on which functions and event sources the app has."""
    resources: dict[str, Any] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        name = function_name(stage, logical_id)
        if len(name) > MAX_FUNCTION_NAME:
            raise PackagingError(f"function name {name!r} is longer than {MAX_FUNCTION_NAME} characters")
        log_group = f"{logical_id}LogGroup"
        resources[log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/aws/lambda/{name}", "RetentionInDays": {"Ref": "LogRetentionDays"}},
        }
        # The Ref makes CloudFormation create the group before the function can log into it.
        properties: dict[str, Any] = {"FunctionName": name, "LoggingConfig": {"LogGroup": {"Ref": log_group}}}
        layers = [] if logical_id in WITHOUT_ANTHROPIC_LAYER else [{"Ref": "AnthropicLayer"}]
        properties["Layers"] = [*layers, {"Ref": "CryptoLayer"}]  # any unit of work may touch personal columns
        resources[logical_id] = {"Properties": properties}
    limits = sqs_maximum_concurrency(stage)
    for logical_id, event_name, _ in sqs_event_sources(template):
        batch_failures: dict[str, Any] = {"FunctionResponseTypes": [REPORT_BATCH_ITEM_FAILURES]}
        if logical_id in limits:  # the poller stays within the reservation (infra/capacity.py)
            batch_failures["ScalingConfig"] = {"MaximumConcurrency": limits[logical_id]}
        properties = resources.setdefault(logical_id, {}).setdefault("Properties", {})
        if event_name is None:
            properties.update(batch_failures)
        else:
            properties.setdefault("Events", {})[event_name] = {"Properties": batch_failures}
    return {"Resources": resources}


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Dictionaries merge key by key (overlay wins); anything else is replaced, as Chalice merges."""
    merged = dict(base)
    for key, value in overlay.items():
        current = merged.get(key)
        merged[key] = deep_merge(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return merged


def merge_document(raw_template: dict[str, Any], stage: str) -> dict[str, Any]:
    """infra/chalice-merge.yaml with the stage pinned, completed with the generated patch."""
    static = load_yaml_template(MERGE_TEMPLATE)
    gateway_responses = static.pop("GatewayResponses", {})
    static.setdefault("Resources", {}).update(static.pop("OwnResources", {}))
    if "RestAPI" in raw_template.get("Resources", {}):  # API Gateway's own answers carry our envelope
        static.setdefault("Resources", {}).update(gateway_responses)
    stage_parameter = static.setdefault("Parameters", {}).setdefault("Stage", {"Type": "String"})
    stage_parameter.update(Default=stage, AllowedValues=[stage])
    return deep_merge(static, generated_patch(raw_template, stage))


def missing_batch_failures(template: dict[str, Any]) -> list[str]:
    """SQS event sources without ReportBatchItemFailures (Lambda would ignore partial batch failures)."""
    return [
        f"{logical_id}/{event_name}" if event_name else logical_id
        for logical_id, event_name, properties in sqs_event_sources(template)
        if REPORT_BATCH_ITEM_FAILURES not in properties.get("FunctionResponseTypes", [])
    ]


def forbidden_entries(deployment_zip: Path) -> list[str]:
    """Top-level packages of the zip that belong in the imaging layer or in development only."""
    with zipfile.ZipFile(deployment_zip) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    return sorted(top for top in tops if FORBIDDEN_TOP_LEVEL.match(top))


def _project_name(top: str) -> str:
    """The distribution a top-level zip entry belongs to: `pydantic_core`, `pydantic_core-2.5.dist-info`
    and `pydantic_core.libs` all give `pydantic_core`; `typing_extensions.py` gives `typing_extensions`."""
    name = top.removesuffix(".py")
    for suffix in (".dist-info", ".data", ".libs"):
        if name.endswith(suffix):
            name = name.removesuffix(suffix).rsplit("-", 1)[0] if suffix != ".libs" else name.removesuffix(suffix)
    return name.lower().replace("-", "_")


def build_layer(requirements_file: Path, deployment_zip: Path, out: Path) -> Path:
    """A layer (layers/<name>/requirements.txt) built for Lambda under python/, without any distribution
    deployment.zip already ships (Lambda puts the function's code first on sys.path, so a second copy would
    only be dead weight, or worse, a second version).

    Resolved together with requirements.txt, so shared dependencies get the same pins; the site packages
    are kept by a hash of both files (build/layer-deps/<name>/), so only the first build downloads wheels.
    """
    from chalice.deploy.packager import DependencyBuilder
    from chalice.utils import OSUtils

    requirements = requirements_file.read_text() + "\n" + (ROOT / "requirements.txt").read_text()
    key = hashlib.sha256(requirements.encode()).hexdigest()[:32]
    cache = LAYER_CACHE / requirements_file.parent.name
    site = cache / f"{key}-python{sys.version_info.major}.{sys.version_info.minor}"
    if not site.is_dir():
        shutil.rmtree(cache, ignore_errors=True)
        staging = cache / "staging"
        staging.mkdir(parents=True)
        (staging / "requirements.txt").write_text(requirements)
        abi = f"cp{sys.version_info.major}{sys.version_info.minor}"
        DependencyBuilder(OSUtils()).build_site_packages(abi, str(staging / "requirements.txt"), str(staging / "site"))
        (staging / "site").rename(site)
        shutil.rmtree(staging)
    with zipfile.ZipFile(deployment_zip) as archive:
        shipped = {_project_name(name.split("/", 1)[0]) for name in archive.namelist()}
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as layer:
        for path in sorted(site.rglob("*")):
            relative = path.relative_to(site)
            if not path.is_file() or "__pycache__" in relative.parts or path.suffix == ".pyc":
                continue
            if _project_name(relative.parts[0]) in shipped:
                continue
            info = zipfile.ZipInfo(f"python/{relative.as_posix()}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            layer.writestr(info, path.read_bytes())
    return out


def build_privacy_zip(deployment_zip: Path, out: Path = PRIVACY_ZIP) -> Path | None:
    """The privacy function's code: the app's package (chalicelib and runtime dependencies) plus functions/.

    None while functions/privacy/handler.py does not exist. The imaging libraries come from the layer.
    """
    if not PRIVACY_HANDLER.exists():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    # boto3/botocore come with the Lambda Python runtime and hyperscan serves Layer A only: left
    # out, the function and the imaging layer (with its face model) fit Lambda's 250 MB unzipped.
    with zipfile.ZipFile(deployment_zip) as app_package, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info in app_package.infolist():
            if info.filename.split("/", 1)[0].split("-", 1)[0] not in PRIVACY_EXCLUDED_TOP_LEVEL:
                archive.writestr(info, app_package.read(info))
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for source in sorted((ROOT / "functions").rglob("*.py")):
            if "__pycache__" not in source.parts:
                archive.write(source, source.relative_to(ROOT).as_posix())
    return out


def lint(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    """cfn-lint (from this virtualenv) on the given templates; non-zero return code on any finding."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    return subprocess.run(
        [str(cfn_lint), *[str(p) for p in paths]], cwd=ROOT, capture_output=True, text=True, check=False
    )


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One packaging at a time in this working tree (tests and `make package` share build/)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def package(stage: str = "dev", out_dir: Path = DEFAULT_OUT) -> PackageResult:
    """Package the app for `stage` into out_dir and check it; raises PackagingError on any broken rule."""
    if stage not in STAGES:
        raise PackagingError(f"unknown stage {stage!r}; expected one of {STAGES}")
    started = time.monotonic()
    with _exclusive(BUILD_DIR / ".package.lock"):
        project = stage_project()
        seed_chalice_cache(project)
        with tempfile.TemporaryDirectory(dir=BUILD_DIR, prefix="package-raw-") as raw_dir:
            raw_template = load_template(run_chalice_package(project, stage, Path(raw_dir) / "out"))
        remember_dependencies(project)
        merge_path = BUILD_DIR / f"chalice-merge.{stage}.json"
        merge_path.write_text(json.dumps(merge_document(raw_template, stage), indent=2) + "\n")
        template_path = run_chalice_package(project, stage, out_dir, merge_path)
        template = load_template(template_path)
        problems = [f"SQS event source without {REPORT_BATCH_ITEM_FAILURES}: {s}"
                    for s in missing_batch_failures(template)]
        deployment_zip = out_dir / "deployment.zip"
        problems += [f"must not ship in the API package: {entry}" for entry in forbidden_entries(deployment_zip)]
        if problems:
            raise PackagingError("\n".join(problems))
        build_layer(ANTHROPIC_REQUIREMENTS, deployment_zip, out_dir / ANTHROPIC_LAYER_ZIP)
        build_layer(CRYPTO_REQUIREMENTS, deployment_zip, out_dir / CRYPTO_LAYER_ZIP)
        privacy_zip = build_privacy_zip(deployment_zip)
    return PackageResult(stage, template_path, deployment_zip, merge_path, privacy_zip, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev", choices=STAGES)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default build/package)")
    parser.add_argument("--skip-lint", action="store_true", help="do not run cfn-lint")
    args = parser.parse_args(argv)
    try:
        result = package(args.stage, args.out.resolve())
    except PackagingError as error:
        print(f"packaging failed: {error}", file=sys.stderr)
        return 1
    template = load_template(result.template)
    functions = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]
    sources = [f"{fn}/{event}" if event else fn for fn, event, _ in sqs_event_sources(template)]
    print(f"packaged stage {result.stage} in {result.seconds:.1f} s: {result.template.relative_to(ROOT)}")
    layers = "; ".join(f"{name}: {result.deployment_zip.with_name(name).stat().st_size / 1e6:.1f} MB"
                       for name in (ANTHROPIC_LAYER_ZIP, CRYPTO_LAYER_ZIP))
    print(f"  deployment.zip: {result.zip_bytes / 1e6:.1f} MB (budget {API_PACKAGE_BUDGET / 1e6:.0f} MB); "
          f"{layers}; functions: {', '.join(functions)}")
    print(f"  SQS sources with {REPORT_BATCH_ITEM_FAILURES}: {', '.join(sources) or 'none'}")
    if result.privacy_zip:
        print(f"  privacy function code: {result.privacy_zip.relative_to(ROOT)}")
    else:
        print("  privacy function code: skipped (functions/privacy/handler.py does not exist yet)")
    if args.skip_lint:
        return 0
    targets = [*standalone_templates(), result.template]
    linted = lint(targets)
    if linted.returncode != 0:
        print(f"cfn-lint found problems:\n{linted.stdout}{linted.stderr}", file=sys.stderr)
        return 1
    print(f"  cfn-lint: clean ({', '.join(str(p.relative_to(ROOT)) for p in targets)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
