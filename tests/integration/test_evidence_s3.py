"""The AWS path of evidence, on moto: a presigned S3 PUT into quarantine/, the bucket's notification
to the privacy queue, the privacy function on that SQS record, processed/ objects and presigned GETs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import piexif
import pytest
import requests
from moto import mock_aws

from tests.fakes.anthropic_server import outbound_network_blocked
from tests.integration.evidence_support import SECRETS, World, leaky_jpeg, new_mission
from tests.support import admin_key, api_client

BUCKET = "peerguard-evidence"
REGION = "us-east-1"


@pytest.fixture
def aws(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from chalicelib.bootstrap import reset_blob_store
    from chalicelib.config import reset_settings

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION,
                        "EVIDENCE_STORE": "s3", "EVIDENCE_BUCKET": BUCKET, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    reset_blob_store()
    with outbound_network_blocked() as refused, mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        queue = sqs.create_queue(QueueName="peerguard-privacy")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # As infra/storage.yaml configures it: new objects under quarantine/ notify the privacy queue.
        s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [{
            "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "quarantine/"}]}}}]})
        yield {"s3": s3, "sqs": sqs, "queue": queue, "arn": arn}
        reset_blob_store()
    assert refused == [], f"a request tried to leave the machine: {refused}"


@pytest.fixture
def world(aws: dict[str, Any]) -> Iterator[World]:
    with api_client() as api:
        admin = admin_key()
        agent, _ = api.register("mission-planner")
        human, _ = api.register("walker", kind="human")
        yield World(api=api, admin=admin, agent=agent, human=human, mission=new_mission(api, admin, agent),
                    blobs=Path("/nonexistent"))


def lambda_event(aws: dict[str, Any]) -> dict[str, Any]:
    """What the privacy function receives: the queue's messages as Lambda's SQS event records."""
    received = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10, AttributeNames=["All"],
                                          MessageAttributeNames=["All"])
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": aws["arn"], "awsRegion": REGION,
    } for m in received.get("Messages", [])]}


def keys(aws: dict[str, Any]) -> list[str]:
    listed = aws["s3"].list_objects_v2(Bucket=BUCKET)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_the_upload_url_is_a_presigned_put_into_quarantine_signing_type_and_length(world: World) -> None:
    data = leaky_jpeg()
    registered = world.register(data=data)
    assert registered.status == 201, registered.body
    evidence_id = registered.data["evidence"]["id"]
    upload = registered.data["upload"]
    url = urlsplit(upload["url"])
    query = parse_qs(url.query)
    assert url.scheme == "https" and url.netloc == f"{BUCKET}.s3.amazonaws.com"
    assert url.path == f"/quarantine/{evidence_id}"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert query["X-Amz-Expires"] == ["900"]
    assert upload["method"] == "PUT"
    assert upload["headers"] == {"Content-Type": "image/jpeg", "Content-Length": str(len(data))}
    # The local stand-in routes do not exist in this mode.
    assert world.api.put(f"/v1/evidence/{evidence_id}/upload?token=1.ab", raw=data,
                         headers={"Content-Type": "image/jpeg"}).status == 404


def test_a_photo_travels_from_the_presigned_put_through_the_privacy_function(world: World, aws: dict[str, Any],
                                                                              db: str) -> None:
    from functions.privacy.handler import handler
    from local.dispatcher import FakeLambdaContext

    data = leaky_jpeg()
    registered = world.register(data=data).data
    evidence_id = registered["evidence"]["id"]
    put = requests.put(registered["upload"]["url"], data=data, headers=registered["upload"]["headers"], timeout=5)
    assert put.status_code == 200
    assert keys(aws) == [f"quarantine/{evidence_id}"]

    event = lambda_event(aws)
    bodies = [json.loads(r["body"]) for r in event["Records"]]
    assert [b.get("Event") for b in bodies if "Event" in b] == ["s3:TestEvent"]  # sent when the queue was set
    assert handler(event, FakeLambdaContext()) == {"batchItemFailures": []}

    ready = world.evidence(evidence_id)
    assert ready["status"] == "ready" and ready["uploaded_at"] is not None
    assert keys(aws) == [f"processed/{evidence_id}.jpg"]  # the original is deleted
    processed = aws["s3"].get_object(Bucket=BUCKET, Key=f"processed/{evidence_id}.jpg")
    assert processed["ContentType"] == "image/jpeg"
    stored = processed["Body"].read()
    assert [s for s in SECRETS if s in stored] == []
    assert piexif.load(stored)["GPS"] == {}

    link = urlsplit(ready["download"]["url"])
    assert link.netloc == f"{BUCKET}.s3.amazonaws.com" and link.path == f"/processed/{evidence_id}.jpg"
    assert "X-Amz-Signature" in parse_qs(link.query)
    assert requests.get(ready["download"]["url"], timeout=5).content == stored

    # A second delivery of the same notification changes nothing and keeps nothing.
    assert handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    again = world.evidence(evidence_id)
    assert {k: v for k, v in again.items() if k != "download"} == {k: v for k, v in ready.items() if k != "download"}
    assert keys(aws) == [f"processed/{evidence_id}.jpg"]


def test_a_rejected_photo_stays_in_quarantine_for_a_retry_which_goes_through_the_outbox(
    world: World, aws: dict[str, Any]
) -> None:
    from functions.privacy.handler import handler
    from local.dispatcher import FakeLambdaContext
    from tests.support import drain_outbox

    corrupt = b"\xff\xd8\xff\xe0" + b"broken" * 100
    registered = world.register(data=corrupt).data
    evidence_id = registered["evidence"]["id"]
    aws["s3"].put_object(Bucket=BUCKET, Key=f"quarantine/{evidence_id}", Body=corrupt, ContentType="image/jpeg")
    handler(lambda_event(aws), FakeLambdaContext())
    rejected = world.evidence(evidence_id)
    assert rejected["status"] == "rejected" and rejected["download"] is None
    assert keys(aws) == [f"quarantine/{evidence_id}"]

    retried = world.api.post(f"/v1/admin/evidence/{evidence_id}/retry", key=world.admin)
    assert retried.status == 200 and retried.data["status"] == "quarantined"
    # The retry travels as an outbox message (the relay would send it to the same queue).
    assert drain_outbox() == 1
    assert world.evidence(evidence_id)["status"] == "rejected"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}, None),
        ({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {
            "bucket": {"name": BUCKET}, "object": {"key": "quarantine%2F3f1c9a4e-2b7d-4c1e-9f3a-1b2c3d4e5f60"}}}]},
         [("process_photo", "3f1c9a4e-2b7d-4c1e-9f3a-1b2c3d4e5f60")]),
        ({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {
            "bucket": {"name": BUCKET}, "object": {"key": "processed/3f1c9a4e-2b7d-4c1e-9f3a-1b2c3d4e5f60.jpg"}}}]},
         []),
        ({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete", "s3": {
            "bucket": {"name": BUCKET}, "object": {"key": "quarantine/3f1c9a4e-2b7d-4c1e-9f3a-1b2c3d4e5f60"}}}]},
         []),
        ({"task": "verify_pair", "pair_id": "3f1c9a4e-2b7d-4c1e-9f3a-1b2c3d4e5f60", "message_key": "outbox:7"},
         [("verify_pair", "3f1c9a4e-2b7d-4c1e-9f3a-1b2c3d4e5f60")]),
    ],
)
def test_records_are_parsed_from_s3_notifications_and_outbox_messages(body: dict[str, Any], expected: Any) -> None:
    from functions.privacy.handler import parse

    work = parse(json.dumps(body))
    assert (None if work is None else [(task, str(target)) for task, target in work]) == expected


def test_an_object_nobody_registered_is_deleted_not_processed(world: World, aws: dict[str, Any]) -> None:
    from functions.privacy.handler import handler
    from local.dispatcher import FakeLambdaContext

    stray = "quarantine/3f1c9a4e-2b7d-4c1e-9f3a-1b2c3d4e5f60"
    aws["s3"].put_object(Bucket=BUCKET, Key=stray, Body=leaky_jpeg(), ContentType="image/jpeg")
    assert handler(lambda_event(aws), FakeLambdaContext()) == {"batchItemFailures": []}
    assert keys(aws) == []
