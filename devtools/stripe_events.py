"""Stripe deliveries signed with Stripe's own scheme, wrapped as API Gateway events."""

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import stripe

# The signing secret every local flow shares (`make local`, `make events`, sam local invoke's
# env-vars file) unless STRIPE_WEBHOOK_SECRET says otherwise. Not a Stripe secret: local use only.
LOCAL_WEBHOOK_SECRET = "whsec_local_development_secret"  # noqa: S105
SECRET_VARIABLE = "STRIPE_WEBHOOK_SECRET"  # noqa: S105 (a variable name, not a secret)


def local_signing_secret() -> tuple[str, bool]:
    """The secret local tools sign and verify with, and whether it came from STRIPE_WEBHOOK_SECRET
    (what `stripe listen` prints) rather than being the local development default."""
    from_environment = os.environ.get(SECRET_VARIABLE, "").strip()
    return (from_environment, True) if from_environment else (LOCAL_WEBHOOK_SECRET, False)


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send for `payload` (stripe-python's test helper)."""
    return stripe.WebhookSignature.generate_signature_header(
        payload.decode("utf-8"),
        secret,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )


def http_api_event(
    body: bytes, headers: dict[str, str], base64_body: bool = False
) -> dict[str, Any]:
    """What an HTTP API (payload 2.0) route hands the function: header names lowercased."""
    return {
        "version": "2.0",
        "routeKey": "POST /stripe/webhook",
        "rawPath": "/stripe/webhook",
        "rawQueryString": "",
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "http": {
                "method": "POST",
                "path": "/stripe/webhook",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "Stripe/1.0",
            },
            "routeKey": "POST /stripe/webhook",
            "stage": "$default",
        },
        "body": base64.b64encode(body).decode("ascii") if base64_body else body.decode("utf-8"),
        "isBase64Encoded": base64_body,
    }


def rest_api_event(
    body: bytes, headers: dict[str, str], base64_body: bool = False
) -> dict[str, Any]:
    """What a REST API (payload 1.0) resource hands the function: header names as sent."""
    return {
        "resource": "/stripe/webhook",
        "path": "/stripe/webhook",
        "httpMethod": "POST",
        "headers": dict(headers),
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "requestContext": {"httpMethod": "POST", "path": "/stripe/webhook", "stage": "Prod"},
        "body": base64.b64encode(body).decode("ascii") if base64_body else body.decode("utf-8"),
        "isBase64Encoded": base64_body,
    }


_ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = _ROOT.parent / "shared" / "stripe-fixtures"
# The same four Stripe events, kept in the repo inside events/ (see devtools/sign_events.py).
_SAMPLE_FILES = {
    "checkout.session.completed": "checkout-session-completed.json",
    "checkout.session.async_payment_succeeded": "checkout-session-async-payment-succeeded.json",
    "checkout.session.async_payment_failed": "checkout-session-async-payment-failed.json",
    "checkout.session.expired": "checkout-session-expired.json",
}


def sample_stripe_event(event_type: str) -> dict[str, Any]:
    """A realistic Stripe Checkout event with no visitor id on its session.

    From ../shared/stripe-fixtures when that folder sits beside the checkout (as in CI), else
    from the copy of the same event in events/, so that a plain clone runs everything too.
    """
    fixture = SHARED_FIXTURES / f"{event_type}.json"
    if fixture.is_file():
        return json.loads(fixture.read_bytes())
    delivery = json.loads((_ROOT / "events" / _SAMPLE_FILES[event_type]).read_bytes())
    body = delivery["body"]
    event = json.loads(base64.b64decode(body) if delivery.get("isBase64Encoded") else body)
    event["data"]["object"].update(client_reference_id=None, metadata={})
    return event
