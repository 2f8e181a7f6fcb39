"""The webhook request as API Gateway delivers it: HTTP API (payload 2.0) or REST API (1.0)."""

import base64
import binascii
from dataclasses import dataclass
from typing import Any

# Stripe events are a few KiB; anything this large is not Stripe, so refuse it before doing work.
MAX_BODY_BYTES = 1024 * 1024


class RequestTooLarge(Exception):
    """The body is over MAX_BODY_BYTES."""


class UnreadableRequest(Exception):
    """The body cannot be turned back into the bytes the sender signed."""


@dataclass(frozen=True)
class WebhookRequest:
    body: bytes
    stripe_signature: str | None


def webhook_request(event: dict[str, Any]) -> WebhookRequest:
    """The exact bytes Stripe sent and its Stripe-Signature header, from either payload format."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        # Base64 is 4/3 of the bytes it carries: reject oversize bodies without decoding them.
        if len(body) > (MAX_BODY_BYTES + 2) // 3 * 4:
            raise RequestTooLarge
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise UnreadableRequest("body is not valid base64") from error
    else:
        if len(body) > MAX_BODY_BYTES:
            raise RequestTooLarge
        try:
            # API Gateway decoded a text body from UTF-8; encoding it again restores the bytes.
            raw = body.encode("utf-8")
        except UnicodeEncodeError as error:
            raise UnreadableRequest("body is not UTF-8") from error
    if len(raw) > MAX_BODY_BYTES:
        raise RequestTooLarge
    return WebhookRequest(body=raw, stripe_signature=_header(event, "stripe-signature"))


def _header(event: dict[str, Any], name: str) -> str | None:
    # HTTP API lowercases header names; REST API passes them as the client sent them.
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None
