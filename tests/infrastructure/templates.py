"""Reading CloudFormation templates in tests: lint findings, queues, imports and exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STAGE = "dev"


def lint_findings(path: Path) -> list[str]:
    """cfn-lint's findings (errors and warnings) for one template, as readable lines."""
    from cfnlint.api import lint_file

    return [str(match) for match in lint_file(path)]


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template.get("Resources", {}).items() if r.get("Type") == kind}


def substitute(value: Any, stage: str = STAGE) -> str:
    """A name written as a string or as Fn::Sub over the Stage parameter and pseudo parameters."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
    if not isinstance(value, str):
        raise AssertionError(f"not a plain or Fn::Sub name: {value!r}")
    return value.replace("${Stage}", stage)


def queue_name_of(arn: Any) -> str:
    """The queue name at the end of an SQS ARN expression such as Chalice writes (Fn::Sub ...:name)."""
    return substitute(arn).rsplit(":", 1)[-1]


def walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        yield from walk(child)


def imports(template: dict[str, Any]) -> set[str]:
    """Every export name the template imports (Fn::ImportValue anywhere, including IAM policies)."""
    return {substitute(n["Fn::ImportValue"]) for n in walk(template) if isinstance(n, dict) and "Fn::ImportValue" in n}


def exports(template: dict[str, Any]) -> set[str]:
    return {substitute(o["Export"]["Name"]) for o in template.get("Outputs", {}).values() if "Export" in o}


def _reads_a_queue(mapping: dict[str, Any]) -> bool:
    """An SQS ARN, or the import of one of our queue ARN exports (peerguard-<stage>-<Name>QueueArn)."""
    source = json.dumps(mapping.get("EventSourceArn"))
    return ":sqs:" in source or "QueueArn" in source


def sqs_sources(template: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, its SQS source properties, the consuming function resource) for every SQS event source:
    SAM events of type SQS and AWS::Lambda::EventSourceMapping resources reading a queue."""
    found = []
    resources = template.get("Resources", {})
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            for event_name, event in properties.get("Events", {}).items():
                if event.get("Type") == "SQS":
                    found.append((f"{name}/{event_name}", event["Properties"], resource))
        elif resource.get("Type") == "AWS::Lambda::EventSourceMapping" and _reads_a_queue(properties):
            target = properties["FunctionName"]
            consumer = resources[target["Ref"]] if isinstance(target, dict) and "Ref" in target else {}
            found.append((name, properties, consumer))
    return found
