"""Where alerts go: SNS (AWS), a Slack-compatible webhook, e-mail over SMTP, and always the log.

Each notifier sends one message and raises on failure; `deliver` retries with exponential backoff
and reports how it went. Messages hold the alert's rule, severity, title and id, never content or
personal data (the rules' details are counts and thresholds).
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.alert_rules import AlertMessage
from chalicelib.observability import logger

CHANNELS = ("log", "sns", "webhook", "email")


class LogNotifier:
    """Local runs and the audit trail in every environment: one WARNING/ERROR line per notification."""

    channel = "log"

    def send(self, message: AlertMessage) -> None:
        log = logger.error if message.severity == "critical" else logger.warning
        log("alert", extra={"alert_id": message.alert_id, "alert_event": message.event, "rule": message.rule,
                            "severity": message.severity, "tier": message.tier, "title": message.title})


class SnsNotifier:
    """Publishes to the alerts topic (boto3 is imported on first send)."""

    channel = "sns"

    def __init__(self, topic_arn: str, *, region: str, client: Any = None) -> None:
        self._topic_arn = topic_arn
        self._region = region
        self._client = client

    def send(self, message: AlertMessage) -> None:
        if self._client is None:
            import boto3

            self._client = boto3.client("sns", region_name=self._region)
        self._client.publish(
            TopicArn=self._topic_arn, Subject=message.subject, Message=message.text(),
            MessageAttributes={
                "severity": {"DataType": "String", "StringValue": message.severity},
                "rule": {"DataType": "String", "StringValue": message.rule},
                "event": {"DataType": "String", "StringValue": message.event},
            },
        )


class WebhookNotifier:
    """Slack-compatible incoming webhook: a JSON body with `text` (and blocks for Slack)."""

    channel = "webhook"

    def __init__(self, url: str, *, timeout_s: float) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("the alert webhook URL must be http(s)")
        self._url = url
        self._timeout_s = timeout_s

    def payload(self, message: AlertMessage) -> dict[str, Any]:
        icon = ":rotating_light:" if message.severity == "critical" else ":warning:"
        return {
            "text": f"{icon} {message.subject}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{message.subject}*"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": (
                    f"rule `{message.rule}` · tier {message.tier} · alert `{message.alert_id}`\n"
                    f"<{message.runbook}|runbook> · <{message.console_url}|acknowledge>")}},
            ],
        }

    def send(self, message: AlertMessage) -> None:
        body = json.dumps(self.payload(message)).encode()
        request = urllib.request.Request(self._url, data=body, method="POST",  # noqa: S310 - http(s) checked
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310 - http(s) only
                if not 200 <= response.status < 300:
                    raise RuntimeError(f"webhook answered {response.status}")
        except urllib.error.HTTPError as exc:
            # Never echo the URL: for Slack it is the credential.
            raise RuntimeError(f"webhook answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RuntimeError(f"webhook unreachable: {type(reason).__name__}") from None


class EmailNotifier:
    """Plain-text e-mail over SMTP (optional; SNS e-mail subscriptions do the same in AWS)."""

    channel = "email"

    def __init__(self, *, host: str, port: int, sender: str, recipients: list[str], timeout_s: float) -> None:
        self._host, self._port, self._sender, self._recipients = host, port, sender, recipients
        self._timeout_s = timeout_s

    def send(self, message: AlertMessage) -> None:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self._sender
        mail["To"] = ", ".join(self._recipients)
        mail.set_content(message.text())
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
            smtp.send_message(mail)


def configured(settings: Settings) -> list[LogNotifier | SnsNotifier | WebhookNotifier | EmailNotifier]:
    """The notifiers the settings turn on; the log is always one of them."""
    found: list[LogNotifier | SnsNotifier | WebhookNotifier | EmailNotifier] = [LogNotifier()]
    if settings.alert_sns_topic_arn:
        found.append(SnsNotifier(settings.alert_sns_topic_arn, region=settings.aws_region))
    if settings.alert_webhook_url is not None and settings.alert_webhook_url.get_secret_value():
        found.append(WebhookNotifier(settings.alert_webhook_url.get_secret_value(),
                                     timeout_s=settings.alert_webhook_timeout_s))
    if settings.alert_email_to and settings.alert_smtp_host:
        found.append(EmailNotifier(host=settings.alert_smtp_host, port=settings.alert_smtp_port,
                                   sender=settings.alert_email_from,
                                   recipients=[r.strip() for r in settings.alert_email_to.split(",") if r.strip()],
                                   timeout_s=settings.alert_webhook_timeout_s))
    return found
