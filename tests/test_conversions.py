"""Which Checkout events become Optibase conversions, for which visitor, with exactly which body."""

import pytest

from tests.conftest import CONVERSION_ID, PUBLIC_API_KEY, fixture_event, payload

VISITOR = "clx8f2k9a0001qz7b3m5n6p4r"


def test_paid_checkout_session_sends_the_documented_body(webhook, optibase):
    event = fixture_event("checkout.session.completed", client_reference_id=VISITOR)

    answer = webhook.deliver(payload(event))

    assert (answer.status, answer.outcome) == (200, "converted")
    [request] = optibase.received
    assert request.method == "POST"
    assert request.path == "/api/script/conversionEvent"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "publicApiKey": PUBLIC_API_KEY,
        "userFriendlyConversionId": CONVERSION_ID,
        "testedUserId": VISITOR,
    }


def test_async_payment_succeeded_converts(webhook, optibase):
    event = fixture_event("checkout.session.async_payment_succeeded", client_reference_id=VISITOR)

    assert webhook.deliver(payload(event)).outcome == "converted"
    assert [body["testedUserId"] for body in optibase.conversions()] == [VISITOR]


def test_free_checkout_counts_as_a_purchase(webhook, optibase):
    event = fixture_event(
        "checkout.session.completed",
        client_reference_id=VISITOR,
        payment_status="no_payment_required",
        amount_total=0,
    )

    assert webhook.deliver(payload(event)).outcome == "converted"
    assert len(optibase.received) == 1


def test_unpaid_completion_waits_for_async_payment_then_converts_once(webhook, optibase):
    completed = fixture_event(
        "checkout.session.completed", client_reference_id=VISITOR, payment_status="unpaid"
    )
    succeeded = fixture_event(
        "checkout.session.async_payment_succeeded", client_reference_id=VISITOR
    )

    first = webhook.deliver(payload(completed))
    assert (first.status, first.outcome) == (200, "skipped")
    assert "async_payment_succeeded" in first.json["detail"]
    assert optibase.received == []

    assert webhook.deliver(payload(succeeded)).outcome == "converted"
    assert len(optibase.received) == 1


@pytest.mark.parametrize(
    "fixture", ["checkout.session.async_payment_failed", "checkout.session.expired"]
)
def test_failed_and_expired_sessions_are_not_purchases(webhook, optibase, fixture):
    answer = webhook.deliver(payload(fixture_event(fixture, client_reference_id=VISITOR)))

    assert (answer.status, answer.outcome) == (200, "skipped")
    assert optibase.received == []


def test_other_event_types_are_acknowledged_without_a_call(webhook, optibase):
    event = {
        "id": "evt_1OtherType",
        "object": "event",
        "type": "invoice.paid",
        "data": {"object": {"id": "in_123", "object": "invoice"}},
    }

    answer = webhook.deliver(payload(event))

    assert (answer.status, answer.outcome) == (200, "skipped")
    assert answer.json["detail"] == "invoice.paid is not a purchase"
    assert optibase.received == []


def test_external_id_from_metadata_when_there_is_no_client_reference_id(webhook, optibase):
    event = fixture_event(
        "checkout.session.completed", metadata={"optibase_external_id": "crm-user-42"}
    )

    assert webhook.deliver(payload(event)).outcome == "converted"
    assert optibase.conversions() == [
        {
            "publicApiKey": PUBLIC_API_KEY,
            "userFriendlyConversionId": CONVERSION_ID,
            "testedUserExternalId": "crm-user-42",
        }
    ]


def test_client_reference_id_wins_over_external_id(webhook, optibase):
    event = fixture_event(
        "checkout.session.completed",
        client_reference_id=VISITOR,
        metadata={"optibase_external_id": "crm-user-42"},
    )

    webhook.deliver(payload(event))

    [body] = optibase.conversions()
    assert body["testedUserId"] == VISITOR
    assert "testedUserExternalId" not in body


@pytest.mark.parametrize("fields", [{}, {"client_reference_id": ""}, {"metadata": None}])
def test_paid_session_without_a_visitor_is_acknowledged_and_reported(
    webhook, optibase, fields, caplog
):
    event = fixture_event("checkout.session.completed", **fields)

    answer = webhook.deliver(payload(event))

    assert (answer.status, answer.outcome) == (200, "skipped")
    assert "client_reference_id" in answer.json["detail"]
    assert optibase.received == []
    assert any(
        record.levelname == "WARNING" and "no Optibase visitor id" in record.getMessage()
        for record in caplog.records
    )
