"""The app as `make package` builds it (once per session): the template CloudFormation receives and the zip
Lambda runs. Given the current app.py and chalicelib, whatever handlers they hold."""

from __future__ import annotations

import fnmatch
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra import INFRA_DIR, ROOT, STACKS
from infra.package import (
    ANTHROPIC_LAYER_ZIP,
    API_PACKAGE_BUDGET,
    CRYPTO_LAYER_ZIP,
    WITHOUT_ANTHROPIC_LAYER,
    PackageResult,
    load_template,
)
from tests.infrastructure.templates import (
    STAGE,
    exports,
    imports,
    lint_findings,
    queue_name_of,
    resources_of_type,
    sqs_sources,
    substitute,
)

pytestmark = pytest.mark.packaging

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes, function code and all its layers together
NOT_IN_THE_API_PACKAGE = ("cv2", "opencv", "pil", "pillow", "numpy", "pgserver", "moto", "pytest", "_pytest")


def unzipped_bytes(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def top_level_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        return {name.split("/", 1)[0] for name in archive.namelist()}


def shipped_forbidden(path: Path) -> list[str]:
    """Top-level entries of the zip that belong to a forbidden project (its modules, .libs or dist-info)."""

    def project(top: str) -> str:
        return top.lower() if top.startswith("_") else top.lower().replace("-", ".").replace("_", ".").split(".")[0]

    return sorted(top for top in top_level_names(path) if project(top) in NOT_IN_THE_API_PACKAGE)


def configured_timeout(function: str) -> int:
    """The timeout .chalice/config.json gives a function of the dev stage, with Chalice's own precedence."""
    from chalice.config import Config
    from chalice.constants import DEFAULT_LAMBDA_TIMEOUT

    config = Config(
        chalice_stage=STAGE,
        function_name=function,
        config_from_disk=json.loads((ROOT / ".chalice" / "config.json").read_text()),
        default_params={"lambda_timeout": DEFAULT_LAMBDA_TIMEOUT},
    )
    return int(config.lambda_timeout)


def test_the_packaged_template_passes_cfn_lint(packaged: PackageResult) -> None:
    assert lint_findings(packaged.template) == []


def test_every_sqs_event_source_reports_batch_item_failures(app_template: dict[str, Any]) -> None:
    sources = sqs_sources(app_template)
    # Given the app has SQS handlers (the guardrail stage at least)
    assert any(name.startswith("GuardrailWorker/") for name, _, _ in sources)
    # Then Lambda honours every handler's batchItemFailures
    missing = [name for name, properties, _ in sources
               if properties.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]]
    assert missing == []


def test_every_queue_the_app_consumes_is_declared_by_the_queues_stack(
    app_template: dict[str, Any], queues_stack: dict[str, Any]
) -> None:
    declared = {q["Properties"]["QueueName"] for q in resources_of_type(queues_stack, "AWS::SQS::Queue").values()}
    consumed = {queue_name_of(properties["Queue"]) for _, properties, _ in sqs_sources(app_template)}
    assert consumed - declared == set()


def test_every_queue_hides_a_message_for_six_times_its_consumers_timeout(
    app_template: dict[str, Any], queues_stack: dict[str, Any]
) -> None:
    from chalice.utils import to_cfn_resource_name

    consumers = {queue_name_of(p["Queue"]): (name, p, fn) for name, p, fn in sqs_sources(app_template)}
    checked = []
    for logical_id, queue in resources_of_type(queues_stack, "AWS::SQS::Queue").items():
        if "Metadata" not in queue:
            continue  # a dead-letter queue: nothing consumes it
        consumer = queue["Metadata"]["Consumer"]
        queue_name = queue["Properties"]["QueueName"]
        if consumer["Template"] == "chalice" and queue_name in consumers:
            source, properties, function = consumers[queue_name]
            assert source.split("/")[0] == to_cfn_resource_name(consumer["Function"]), f"{logical_id} metadata"
            timeout = function["Properties"]["Timeout"]
            window = properties.get("MaximumBatchingWindowInSeconds", 0)
        elif consumer["Template"] == "chalice":  # its handler is not written yet: what the config will give it
            timeout, window = configured_timeout(consumer["Function"]), 0
        else:
            template = load_template(INFRA_DIR / consumer["Template"])
            timeout = template["Resources"][consumer["Function"]]["Properties"]["Timeout"]
            [(_, properties, _)] = sqs_sources(template)
            window = properties.get("MaximumBatchingWindowInSeconds", 0)
        # AWS: at least six times the function timeout plus the batching window (retries of throttled batches)
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout + window, f"{queue_name}: {timeout} s"
        checked.append(queue_name)
    assert len(checked) == 7


def test_every_import_is_exported_by_a_stack_deployed_before(app_template: dict[str, Any]) -> None:
    exported: set[str] = set()
    for suffix, path in STACKS:
        template = app_template if suffix == "app" else load_template(ROOT / path)
        assert imports(template) - exported == set(), f"the {suffix} stack imports what no earlier stack exports"
        assert exports(template) & exported == set(), f"the {suffix} stack exports a name already exported"
        exported |= exports(template)


def test_every_function_has_its_stage_name_and_a_log_group_its_role_may_write(app_template: dict[str, Any]) -> None:
    resources = app_template["Resources"]
    functions = resources_of_type(app_template, "AWS::Serverless::Function")
    for logical_id, function in functions.items():
        properties = function["Properties"]
        name = properties["FunctionName"]
        assert name == f"peerguard-{STAGE}-{logical_id}"
        log_group = resources[properties["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
        assert log_group["LogGroupName"] == f"/aws/lambda/{name}"
        assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        role = resources[properties["Role"]["Fn::GetAtt"][0]]
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        [logs] = [s for s in statements if s["Sid"] == "Logs"]
        group_patterns = [substitute(r).split(":log-group:")[1].removesuffix(":*") for r in logs["Resource"]]
        assert any(fnmatch.fnmatchcase(log_group["LogGroupName"], p) for p in group_patterns), logical_id


def test_the_template_only_deploys_as_the_stage_it_was_packaged_for(app_template: dict[str, Any]) -> None:
    stage = app_template["Parameters"]["Stage"]
    assert (stage["Default"], stage["AllowedValues"]) == (STAGE, [STAGE])
    environments = [f["Properties"]["Environment"]["Variables"]["STAGE"]
                    for f in resources_of_type(app_template, "AWS::Serverless::Function").values()]
    assert set(environments) == {STAGE}


def test_the_api_package_holds_sources_and_runtime_dependencies_only(packaged: PackageResult) -> None:
    with zipfile.ZipFile(packaged.deployment_zip) as archive:
        names = archive.namelist()
    assert {"app.py", "chalicelib/__init__.py", "chalice/app.py"} <= set(names)
    assert shipped_forbidden(packaged.deployment_zip) == []
    assert [n for n in names if n.startswith(("app.py", "chalicelib/")) and n.endswith(".pyc")] == []
    assert unzipped_bytes(packaged.deployment_zip) < LAMBDA_UNZIPPED_LIMIT


def test_the_privacy_function_code_is_the_app_package_plus_its_handler(packaged: PackageResult) -> None:
    if packaged.privacy_zip is None:
        pytest.skip("functions/privacy/handler.py is not written yet")
    names = set(zipfile.ZipFile(packaged.privacy_zip).namelist())
    assert {"functions/privacy/handler.py", "chalicelib/__init__.py"} <= names
    assert shipped_forbidden(packaged.privacy_zip) == []  # the imaging libraries come from the layer


def test_the_privacy_function_and_its_layers_fit_lambdas_size_limit(packaged: PackageResult) -> None:
    layer = ROOT / "build" / "layers" / "imaging.zip"
    if packaged.privacy_zip is None or not layer.exists():
        pytest.skip("needs functions/privacy/handler.py and `make layer`")
    anthropic = packaged.deployment_zip.with_name(ANTHROPIC_LAYER_ZIP)
    crypto = packaged.deployment_zip.with_name(CRYPTO_LAYER_ZIP)
    total = sum(unzipped_bytes(z) for z in (packaged.privacy_zip, layer, anthropic, crypto))
    assert total < LAMBDA_UNZIPPED_LIMIT


# --- the API package's budget, the Anthropic and crypto layers (docs/scaling.md, "The API package") -------

# What the Lambda runtime provides (boto3, botocore and theirs) or what lives in a layer never ships in the
# package: botocore alone was 17 MB of it, brought in by the X-Ray SDK; cryptography 4.7 MB.
NOT_SHIPPED = ("boto3", "botocore", "s3transfer", "aws_xray_sdk", "anthropic", "httpx2", "httpcore2",
               "cryptography", "cffi", "pycparser")


def distributions(path: Path, prefix: str = "") -> set[str]:
    """The distributions a zip holds, by normalised name (modules, dist-info, .libs alike)."""
    from infra.package import _project_name

    with zipfile.ZipFile(path) as archive:
        return {_project_name(n.removeprefix(prefix).split("/", 1)[0]) for n in archive.namelist()
                if n.startswith(prefix)}


def test_the_api_package_stays_within_its_size_budget(packaged: PackageResult) -> None:
    # The zip Lambda downloads on every cold start of every function of the app
    assert packaged.zip_bytes <= API_PACKAGE_BUDGET, f"{packaged.zip_bytes / 1e6:.1f} MB"
    assert distributions(packaged.deployment_zip) & set(NOT_SHIPPED) == set()


def test_every_function_carries_the_crypto_layer_and_all_but_the_api_handler_the_anthropic_one(
    app_template: dict[str, Any],
) -> None:
    functions = resources_of_type(app_template, "AWS::Serverless::Function")
    assert set(functions) >= WITHOUT_ANTHROPIC_LAYER
    for logical_id, function in functions.items():
        layers = function["Properties"].get("Layers", [])
        anthropic = [] if logical_id in WITHOUT_ANTHROPIC_LAYER else [{"Ref": "AnthropicLayer"}]
        assert layers == [*anthropic, {"Ref": "CryptoLayer"}], logical_id
    for logical_id, zip_name in (("AnthropicLayer", ANTHROPIC_LAYER_ZIP), ("CryptoLayer", CRYPTO_LAYER_ZIP)):
        assert app_template["Resources"][logical_id]["Properties"]["ContentUri"] == f"./{zip_name}"
    # The privacy function (its own stack) takes both through the exports
    assert {f"peerguard-{STAGE}-AnthropicLayerArn", f"peerguard-{STAGE}-CryptoLayerArn"} <= exports(app_template)


@pytest.mark.parametrize(("zip_name", "expected"), [
    (ANTHROPIC_LAYER_ZIP, {"anthropic"}),
    (CRYPTO_LAYER_ZIP, {"cryptography", "cffi"}),  # cryptography's Rust bindings load _cffi_backend
])
def test_each_layer_holds_only_what_the_package_lacks(
    packaged: PackageResult, zip_name: str, expected: set[str],
) -> None:
    layer = packaged.deployment_zip.with_name(zip_name)
    with zipfile.ZipFile(layer) as archive:
        assert all(name.startswith("python/") for name in archive.namelist())  # Lambda's /opt/python
    in_layer = distributions(layer, "python/")
    assert expected <= in_layer
    assert in_layer & distributions(packaged.deployment_zip) == set()  # no second pydantic


def test_the_two_layers_share_no_distribution(packaged: PackageResult) -> None:
    # Both unpack into /opt/python: a shared one would be overwritten by whichever layer comes last
    anthropic = distributions(packaged.deployment_zip.with_name(ANTHROPIC_LAYER_ZIP), "python/")
    crypto = distributions(packaged.deployment_zip.with_name(CRYPTO_LAYER_ZIP), "python/")
    assert anthropic & crypto == set()


def test_the_package_and_its_layers_import_on_a_bare_interpreter(packaged: PackageResult, tmp_path: Path) -> None:
    """Only the zips on the path, as in Lambda (minus its boto3, which nothing may need at import): the package
    alone imports the app without cryptography (imported on first use); with the Anthropic layer, the Layer B
    adapters import too; personal columns seal and open with the crypto layer, and without it fail naming it."""
    import subprocess
    import sys

    # (not importable names: the interpreter's current directory is tmp_path)
    task, anthropic, crypto = tmp_path / "task", tmp_path / "layer-anthropic", tmp_path / "layer-crypto"
    zipfile.ZipFile(packaged.deployment_zip).extractall(task)
    zipfile.ZipFile(packaged.deployment_zip.with_name(ANTHROPIC_LAYER_ZIP)).extractall(anthropic)
    zipfile.ZipFile(packaged.deployment_zip.with_name(CRYPTO_LAYER_ZIP)).extractall(crypto)
    bare = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    code = (
        "import importlib, sys\n"
        "import app\n"
        "from chalicelib.entrypoints import workers, schedules, maintenance\n"
        "cold = sorted({'boto3', 'botocore', 'cryptography'} & set(sys.modules))\n"
        "layer = importlib.util.find_spec('anthropic') is not None\n"
        "if layer:\n"
        "    import anthropic, chalicelib.adapters.anthropic.classifier, chalicelib.adapters.anthropic.vision\n"
        "from chalicelib.adapters.field_crypto import CryptographyMissing, FieldCipher, LocalKeyFile\n"
        "cipher = FieldCipher(LocalKeyFile('keys.json'))\n"
        "try:\n"
        "    token = cipher.encrypt('Zofia', context='humans.name')\n"
        "    sealed = cipher.decrypt(token, context='humans.name') == 'Zofia' and 'Zofia' not in token\n"
        "except CryptographyMissing as missing:\n"
        "    sealed = 'CryptoLayer' in str(missing)\n"
        "    sealed = f'missing, named: {sealed}'\n"
        "print(layer, sealed, cold)\n"
    )

    def run(*path: Path) -> str:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": ":".join(map(str, path))}
        done = subprocess.run([str(bare), "-S", "-c", code], cwd=tmp_path, env=env, capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip()

    assert run(task) == "False missing, named: True []"
    assert run(task, crypto / "python") == "False True []"  # the API handler
    assert run(task, anthropic / "python", crypto / "python") == "True True []"  # every other function
