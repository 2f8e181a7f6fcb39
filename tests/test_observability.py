"""Logs say what happened to which event; metrics count it; no secret or PII is written."""

import json

import pytest

from devtools.optibase_standin import Reply
from devtools.stripe_events import http_api_event, stripe_signature
from tests.conftest import SECRET, fixture_event, payload

VISITOR = "clx8f2k9a0001qz7b3m5n6p4r"
SESSION = "cs_test_a1UejXx8ebIdTzFolicVypUAZpOBVkoQKDbaarXoPlPVtj8p0zujPEEhjT"


def log_lines(webhook, caplog) -> list[dict]:
    """Every log record as the JSON line Powertools writes to CloudWatch."""
    formatter = webhook.module.logger.registered_formatter
    return [json.loads(formatter.format(record)) for record in caplog.records]


def emf_metrics(capsys) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        if '"CloudWatchMetrics"' in line:
            blob = json.loads(line)
            for definition in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                metrics[definition["Name"]] = sum(blob[definition["Name"]])
    return metrics


def test_outcome_line_names_event_session_and_outcome(webhook, optibase, caplog):
    event = fixture_event("checkout.session.completed", client_reference_id=VISITOR)

    webhook.deliver(payload(event))

    [answered] = [line for line in log_lines(webhook, caplog) if line["message"] == "answered"]
    assert answered["stripe_event_id"] == "evt_1FixtureCheckoutCompleted01"
    assert answered["stripe_event_type"] == "checkout.session.completed"
    assert answered["checkout_session_id"] == SESSION
    assert (answered["status"], answered["outcome"]) == (200, "converted")


@pytest.mark.parametrize(
    ("replies", "signed_with", "fields", "metric"),
    [
        ([], SECRET, {"client_reference_id": VISITOR}, "ConversionsSent"),
        ([], SECRET, {}, "ConversionsWithoutVisitor"),
        ([], SECRET, {"payment_status": "unpaid"}, "ConversionsSkipped"),
        ([], "whsec_wrong", {"client_reference_id": VISITOR}, "SignatureFailures"),
        ([], SECRET, {"id": "not-a-session-id"}, "UnusableEvents"),
        ([Reply(401)], SECRET, {"client_reference_id": VISITOR}, "OptibaseFailures"),
    ],
)
def test_each_outcome_is_counted(webhook, optibase, capsys, replies, signed_with, fields, metric):
    optibase.replies.extend(replies)
    capsys.readouterr()

    webhook.deliver(payload(fixture_event("checkout.session.completed", **fields)), signed_with)

    assert emf_metrics(capsys).get(metric) == 1


def test_duplicates_are_counted(webhook, optibase, capsys):
    body = payload(fixture_event("checkout.session.completed", client_reference_id=VISITOR))
    webhook.deliver(body)
    capsys.readouterr()

    webhook.deliver(body)

    assert emf_metrics(capsys) == {"Duplicates": 1}


def test_no_secret_raw_body_or_customer_details_in_any_log(webhook, optibase, caplog, capsys):
    event = fixture_event(
        "checkout.session.completed",
        client_reference_id=VISITOR,
        customer_details={
            "email": "jenny.rosen@example.com",
            "name": "Jenny Rosen",
            "phone": "+15555550100",
            "address": {
                "line1": "510 Townsend St",
                "city": "San Francisco",
                "postal_code": "94103",
            },
        },
    )
    body = payload(event)
    optibase.replies.append(Reply(500))
    webhook.deliver(body)  # converted after one retry
    webhook.deliver(body)  # duplicate
    webhook.deliver(body, "whsec_wrong")  # rejected
    webhook.invoke(http_api_event(body, {"Stripe-Signature": "t=1,v1=00"}))  # malformed/stale

    written = "\n".join(json.dumps(line) for line in log_lines(webhook, caplog))
    written += capsys.readouterr().out
    assert "answered" in written
    for forbidden in (
        SECRET,
        "whsec_wrong",
        "jenny.rosen@example.com",
        "Jenny Rosen",
        "+15555550100",
        "510 Townsend St",
        "94103",
        "customer_details",
        '"object": "checkout.session"',
    ):
        assert forbidden not in written


def test_signed_body_that_is_not_an_event_counts_as_rejected_not_as_signature_failure(
    webhook, optibase, capsys
):
    body = b"not json at all"
    capsys.readouterr()

    answer = webhook.invoke(
        http_api_event(body, {"Stripe-Signature": stripe_signature(body, SECRET)})
    )

    assert answer.status == 400
    assert emf_metrics(capsys) == {"RequestsRejected": 1}
