"""The merge that completes Chalice's template covers exactly the functions and SQS sources the app has,
whatever the app holds (the merge itself is Chalice's, as `chalice package --merge-template` runs it)."""

from __future__ import annotations

from typing import Any

from chalice.package import TemplateDeepMerger
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.package import merge_document

STAGE = "dev"
QUEUE_ARN = {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:peerguard-%s"}


def chalice_like_template(functions: dict[str, str | None], mappings: dict[str, str]) -> dict[str, Any]:
    """What `chalice package` writes: SAM functions with an SQS, Schedule or no event source, and
    (for completeness) plain event source mappings reading SQS or Kinesis."""
    resources: dict[str, Any] = {}
    for name, event in functions.items():
        properties: dict[str, Any] = {"Runtime": "python3.11", "Handler": f"app.{name}", "Timeout": 60}
        if event == "SQS":
            queue = {"Fn::Sub": QUEUE_ARN["Fn::Sub"] % name.lower()}
            properties["Events"] = {f"{name}SqsEventSource": {
                "Type": "SQS", "Properties": {"Queue": queue, "BatchSize": 10, "MaximumBatchingWindowInSeconds": 0}}}
        elif event == "Schedule":
            properties["Events"] = {f"{name}Event": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}}
        resources[name] = {"Type": "AWS::Serverless::Function", "Properties": properties}
    for name, source in mappings.items():
        arn = "arn:aws:sqs:us-east-1:123456789012:q" if source == "sqs" else "arn:aws:kinesis:us-east-1:1:stream/s"
        resources[name] = {"Type": "AWS::Lambda::EventSourceMapping",
                           "Properties": {"EventSourceArn": arn, "FunctionName": "f"}}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Transform": "AWS::Serverless-2016-10-31",
            "Resources": resources, "Outputs": {"EndpointURL": {"Value": "x"}}}


names = st.from_regex(r"[A-Z][a-z]{2,8}(Worker|Job|Handler)", fullmatch=True)


@settings(deadline=None)  # the first example loads cfn-lint's YAML machinery
@given(
    functions=st.dictionaries(names, st.sampled_from(["SQS", "Schedule", None]), max_size=6),
    mappings=st.dictionaries(st.from_regex(r"Mapping[A-Z][a-z]{2,5}", fullmatch=True),
                             st.sampled_from(["sqs", "kinesis"]), max_size=2),
)
def test_every_sqs_source_of_any_app_gets_batch_item_failures_and_nothing_else_changes(
    functions: dict[str, str | None], mappings: dict[str, str]
) -> None:
    chalice_template = chalice_like_template(functions, mappings)
    merged = TemplateDeepMerger().merge(merge_document(chalice_template, STAGE), chalice_template)

    for name, resource in merged["Resources"].items():
        assert "Type" in resource, f"{name}: the merge created a half resource"
    for name, event in functions.items():
        properties = merged["Resources"][name]["Properties"]
        assert properties["FunctionName"] == f"peerguard-{STAGE}-{name}"
        for event_source in properties.get("Events", {}).values():
            has_flag = "FunctionResponseTypes" in event_source["Properties"]
            assert has_flag == (event == "SQS")
            if has_flag:
                assert event_source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
                assert event_source["Properties"]["BatchSize"] == 10  # Chalice's settings survive
    for name, source in mappings.items():
        reported = merged["Resources"][name]["Properties"].get("FunctionResponseTypes")
        assert reported == (["ReportBatchItemFailures"] if source == "sqs" else None)
    log_groups = {n for n, r in merged["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert log_groups == {f"{name}LogGroup" for name in functions}


def test_the_stage_is_pinned_and_the_api_url_exported() -> None:
    merged_doc = merge_document(chalice_like_template({"ApiHandler": None}, {}), "prod")
    assert merged_doc["Parameters"]["Stage"]["AllowedValues"] == ["prod"]
    assert merged_doc["Outputs"]["EndpointURL"]["Export"]["Name"] == {"Fn::Sub": "peerguard-${Stage}-ApiUrl"}
