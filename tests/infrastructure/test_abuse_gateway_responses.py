"""Finding 5 in AWS: API Gateway's own answers (unknown route, throttling, oversized body, any other 4xx or
5xx it produces) carry our envelope, and an unknown route is 404 NOT_FOUND as it is locally."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infrastructure.templates import resources_of_type

pytestmark = pytest.mark.packaging

# What API Gateway substitutes in a gateway response template ($context.error.messageString comes quoted).
CONTEXT = {"$context.requestId": "req-123", "$context.error.messageString": '"Forbidden"'}


def rendered(template: str) -> dict[str, Any]:
    for variable, value in CONTEXT.items():
        template = template.replace(variable, value)
    document: dict[str, Any] = json.loads(template)
    return document


def test_finding_5_the_packaged_api_answers_gateway_errors_in_the_envelope(app_template: dict[str, Any]) -> None:
    responses = {r["Properties"]["ResponseType"]: r["Properties"]
                 for r in resources_of_type(app_template, "AWS::ApiGateway::GatewayResponse").values()}
    assert {"MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    apis = set(resources_of_type(app_template, "AWS::Serverless::Api")) | set(
        resources_of_type(app_template, "AWS::ApiGateway::RestApi"))
    for kind, properties in responses.items():
        assert properties["RestApiId"] == {"Ref": "RestAPI"} and "RestAPI" in apis, kind
        body = rendered(properties["ResponseTemplates"]["application/json"])
        assert body["ok"] is False and body["requestId"] == "req-123", kind
        assert set(body["error"]) == {"code", "message"} and body["error"]["message"], kind
    unknown = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert unknown["StatusCode"] == "404"
    assert rendered(unknown["ResponseTemplates"]["application/json"])["error"]["code"] == "NOT_FOUND"
    assert "StatusCode" not in responses["DEFAULT_4XX"] and "StatusCode" not in responses["DEFAULT_5XX"]
    assert responses["THROTTLED"]["StatusCode"] == "429"
    assert rendered(responses["DEFAULT_5XX"]["ResponseTemplates"]["application/json"])["error"]["code"] == \
        "UNAVAILABLE"
