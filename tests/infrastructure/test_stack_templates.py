"""The stack templates of infra/: they lint clean and keep the promises the design makes of them."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from infra import INFRA_DIR, ROOT, standalone_templates
from tests.infrastructure.templates import (
    STAGE,
    lint_findings,
    resources_of_type,
    sqs_sources,
    substitute,
)

STAGE_QUEUES = {"peerguard-guardrail", "peerguard-consensus", "peerguard-spot-check", "peerguard-privacy",
                "peerguard-privacy-request", "peerguard-delivery", "peerguard-export-job"}


@pytest.mark.parametrize("template", standalone_templates(), ids=lambda p: p.name)
def test_every_stack_template_passes_cfn_lint(template: Path) -> None:
    assert lint_findings(template) == []


def test_the_linter_reports_a_broken_template(tmp_path: Path) -> None:
    # Given a queue whose visibility timeout is not a number
    broken = tmp_path / "broken.yaml"
    broken.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: forty\n")
    # Then the same check that passes our templates fails it
    assert lint_findings(broken)


def test_every_stage_queue_exists_with_a_dead_letter_queue_after_five_receives(
    queues_stack: dict[str, Any],
) -> None:
    all_queues = resources_of_type(queues_stack, "AWS::SQS::Queue")
    dead_letter = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in all_queues.values()
        if "RedrivePolicy" in q["Properties"]
    }
    sources = {name: q for name, q in all_queues.items() if name not in dead_letter}

    assert {q["Properties"]["QueueName"] for q in sources.values()} == STAGE_QUEUES
    for name, queue in sources.items():
        redrive = queue["Properties"]["RedrivePolicy"]
        target = all_queues[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]]["Properties"]
        assert redrive["maxReceiveCount"] == 5, name
        assert target["QueueName"] == queue["Properties"]["QueueName"] + "-dlq"
        # A message's age counts from its first enqueue: the DLQ must keep it longer than the source did.
        assert target["MessageRetentionPeriod"] > queue["Properties"]["MessageRetentionPeriod"], name
        assert "RedrivePolicy" not in target, f"{name}: dead-letter queues do not chain"


def test_uploads_stay_unreadable_until_the_privacy_stage_has_run(storage_stack: dict[str, Any]) -> None:
    bucket = storage_stack["Resources"]["EvidenceBucket"]["Properties"]
    # Nothing is public, everything is encrypted with the data key
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert rule == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}}
    # Deleted originals are gone (no versions kept), and quarantine never outlives a day
    assert "VersioningConfiguration" not in bucket
    expiring = [r for r in bucket["LifecycleConfiguration"]["Rules"] if r.get("ExpirationInDays")]
    # (export archives: deleted by the retention run when their link expires; the rule is the backstop)
    assert [(r["Prefix"], r["ExpirationInDays"]) for r in expiring] == [("quarantine/", 1), ("exports/", 31)]
    # Every upload under quarantine/ notifies the privacy queue, which admits this bucket only
    [notification] = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "quarantine/"}]
    assert substitute(notification["Queue"]["Fn::ImportValue"]) == f"peerguard-{STAGE}-PrivacyQueueArn"
    [statement] = storage_stack["Resources"]["PrivacyQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    admitted = substitute(statement["Condition"]["ArnLike"]["aws:SourceArn"]).split(":::", 1)[1]
    assert admitted == substitute(bucket["BucketName"])


def test_the_privacy_function_reports_batch_failures_and_runs_the_handler_that_exists(
    privacy_stack: dict[str, Any],
) -> None:
    [(_, source, function)] = sqs_sources(privacy_stack)
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert substitute(source["EventSourceArn"]["Fn::ImportValue"]) == f"peerguard-{STAGE}-PrivacyQueueArn"
    properties = function["Properties"]
    assert (properties["Runtime"], properties["Timeout"], properties["MemorySize"]) == ("python3.11", 120, 2048)
    # The imaging layer, and the app stack's Anthropic layer for the before/after vision check and crypto
    # layer for the personal columns its unit of work stores
    assert properties["Layers"] == [
        {"Ref": "ImagingLayer"}, {"Fn::ImportValue": {"Fn::Sub": "peerguard-${Stage}-AnthropicLayerArn"}},
        {"Fn::ImportValue": {"Fn::Sub": "peerguard-${Stage}-CryptoLayerArn"}},
    ]
    module, _, attribute = properties["Handler"].rpartition(".")
    handler_file = ROOT / f"{module}.py"
    if not handler_file.exists():
        pytest.skip(f"{handler_file.relative_to(ROOT)} is not written yet")
    top_level = {node.name for node in ast.parse(handler_file.read_text()).body if isinstance(node, ast.FunctionDef)}
    assert attribute in top_level


def test_the_database_is_private_encrypted_and_its_password_is_managed_by_rds(
    database_stack: dict[str, Any],
) -> None:
    instance = database_stack["Resources"]["Database"]["Properties"]
    assert instance["Engine"] == "postgres"
    assert instance["EngineVersion"] == {"Ref": "EngineVersion"}
    assert database_stack["Parameters"]["EngineVersion"]["Default"].startswith("16.")
    assert instance["PubliclyAccessible"] is False
    assert instance["StorageEncrypted"] is True
    assert instance["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in instance
    assert instance["MultiAZ"] == {"Ref": "MultiAZ"}
    assert database_stack["Resources"]["Database"]["DeletionPolicy"] == "Snapshot"


def test_the_prod_policy_is_the_dev_policy_for_the_prod_stage() -> None:
    dev = (ROOT / ".chalice" / "policy-dev.json").read_text()
    prod = (ROOT / ".chalice" / "policy-prod.json").read_text()
    assert json.loads(prod) == json.loads(dev.replace("peerguard-dev-", "peerguard-prod-").replace(
        "peerguard/dev/", "peerguard/prod/"))


def test_the_merge_template_names_no_chalice_resource() -> None:
    # A key under Resources would create a half resource whenever Chalice does not generate it.
    from infra.package import load_yaml_template

    merge = load_yaml_template(INFRA_DIR / "chalice-merge.yaml")
    assert "Resources" not in merge


def test_personal_columns_have_a_kms_data_key_and_a_blind_index_secret_the_api_may_read(
    storage_stack: dict[str, Any],
) -> None:
    resources = storage_stack["Resources"]
    assert resources["DataKey"]["Type"] == "AWS::KMS::Key"
    assert resources["DataKey"]["Properties"]["EnableKeyRotation"] is True
    secret = resources["PiiIndexSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret" and secret["DeletionPolicy"] == "Retain"
    assert secret["Properties"]["KmsKeyId"] == {"Ref": "DataKey"}
    merge = (INFRA_DIR / "chalice-merge.yaml").read_text()
    assert "PII_KMS_KEY_ARN" in merge and "PII_INDEX_SECRET_ARN" in merge
    for stage in ("dev", "prod"):
        policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
        by_sid = {s.get("Sid"): s for s in policy["Statement"]}
        assert {"kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"} <= set(by_sid["DataKey"]["Action"])
        assert by_sid["PiiIndexSecret"]["Resource"] == [{"Fn::ImportValue": f"peerguard-{stage}-PiiIndexSecretArn"}]
