"""Stripe webhook signatures: the v1 scheme over the raw body, any of several secrets."""

import json
from collections.abc import Sequence
from typing import Any

import stripe

# Stripe's own default: a signed request older than five minutes may be a replay.
TOLERANCE_SECONDS = 300


class InvalidStripeEvent(Exception):
    """Not a Stripe event signed with one of our secrets. The message is safe to answer with."""


class InvalidSignature(InvalidStripeEvent):
    """The Stripe-Signature header is missing, garbled, stale or matches none of our secrets."""


def verified_stripe_event(
    payload: bytes, header: str | None, secrets: Sequence[str]
) -> dict[str, Any]:
    """The event Stripe sent, once its signature matches one of `secrets`."""
    if not header:
        raise InvalidSignature("missing Stripe-Signature header")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidStripeEvent("body is not UTF-8") from error
    reason = "no webhook signing secret configured"
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, TOLERANCE_SECONDS)
            break
        except stripe.SignatureVerificationError as error:
            reason = _short_reason(str(error.user_message or error))
    else:
        raise InvalidSignature(reason)
    return _stripe_event(text)


def _short_reason(message: str) -> str:
    # Keyed on stripe-python's messages (pinned in requirements.txt; each reason has a test), so
    # the answer names the failure without echoing the header or the body.
    if message.startswith("Timestamp outside"):
        return "signature timestamp outside the tolerance"
    if message.startswith("No signatures found matching"):
        return "signature does not match"
    return "malformed Stripe-Signature header"


def _stripe_event(text: str) -> dict[str, Any]:
    # A plain dict, not stripe.Event (no .get() in stripe 16): what the rest of the flow needs.
    try:
        event = json.loads(text)
    except ValueError as error:
        raise InvalidStripeEvent("body is not JSON") from error
    if not (
        isinstance(event, dict)
        and event.get("object") == "event"
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise InvalidStripeEvent("body is not a Stripe event")
    return event
