"""Stripe webhook → Optibase conversion. The whole flow: verify, map, send once, answer."""

import json
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from webhook import optibase
from webhook.api_gateway import RequestTooLarge, UnreadableRequest, webhook_request
from webhook.aws import LONGEST_CALL_SECONDS
from webhook.checkout import Conversion, NotACheckoutSession, Skip, conversion_for
from webhook.exactly_once import (
    ConversionInProgress,
    RecordStoreUnavailable,
    once_per_checkout_session,
    register_lambda_context,
)
from webhook.signing_secrets import SigningSecretUnavailable, stripe_signing_secrets
from webhook.stripe_signature import InvalidSignature, InvalidStripeEvent, verified_stripe_event

logger = Logger()
metrics = Metrics()

# Time kept back from Optibase's share of the invocation: recording the outcome in DynamoDB
# takes at most one bounded AWS call, and Stripe must get its answer before the Timeout.
ANSWER_RESERVE_SECONDS = LONGEST_CALL_SECONDS + 0.5


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    register_lambda_context(context)
    try:
        request = webhook_request(event)
        stripe_event = verified_stripe_event(
            request.body, request.stripe_signature, stripe_signing_secrets()
        )
        logger.append_keys(
            stripe_event_id=stripe_event["id"], stripe_event_type=stripe_event["type"]
        )
        conversion = conversion_for(stripe_event)
    except RequestTooLarge:
        count("RequestsTooLarge")
        return answer(413, "rejected", "body larger than 1 MiB")
    except (UnreadableRequest, InvalidStripeEvent) as error:
        count("SignatureFailures" if isinstance(error, InvalidSignature) else "RequestsRejected")
        return answer(400, "rejected", str(error))
    except NotACheckoutSession as error:
        # Stripe signed it, so a 4xx would only make Stripe retry it for days and then disable
        # the endpoint; acknowledge it and make it visible instead.
        logger.error(f"unusable Stripe event: {error}")
        count("UnusableEvents")
        return answer(200, "skipped", str(error))
    except SigningSecretUnavailable as error:
        logger.error(str(error))
        count("SigningSecretUnavailable")
        return answer(500, "failed", "webhook signing secret unavailable")

    logger.append_keys(checkout_session_id=conversion.checkout_session_id)
    if isinstance(conversion, Skip):
        if conversion.missing_visitor:
            logger.warning("paid Checkout Session carries no Optibase visitor id")
            count("ConversionsWithoutVisitor")
        count("ConversionsSkipped")
        return answer(200, "skipped", conversion.reason)

    deadline = (
        time.monotonic() + context.get_remaining_time_in_millis() / 1000 - ANSWER_RESERVE_SECONDS
    )
    try:
        result = send_conversion(conversion=conversion, deadline=deadline)
    except RecordStoreUnavailable as error:
        logger.error(f"exactly-once record store unavailable: {error}")
        count("RecordStoreFailures")
        return answer(500, "failed", "exactly-once record store unavailable")
    except ConversionInProgress:
        count("ConversionsInProgress")
        return answer(
            409, "in progress", "another delivery is converting this session; retry later"
        )
    except optibase.OptibaseRejected as error:
        logger.error(
            f"Optibase rejected the conversion ({error}): check the public API key and "
            "conversion id"
        )
        count("OptibaseFailures")
        return answer(502, "failed", "Optibase rejected the conversion")
    except optibase.OptibaseUnavailable as error:
        logger.error(f"Optibase unavailable: {error}")
        count("OptibaseFailures")
        return answer(503, "failed", "Optibase unavailable")
    except Exception:
        # Nothing was recorded as sent (Powertools deleted the record): Stripe's retry is safe.
        logger.exception("unexpected failure while converting")
        count("UnexpectedFailures")
        return answer(500, "failed", "unexpected error")

    if result.get("duplicate"):
        count("Duplicates")
        return answer(200, "duplicate", "session already converted")
    count("ConversionsSent")
    return answer(200, "converted", conversion.tested_user_field)


@once_per_checkout_session
def send_conversion(conversion: Conversion, deadline: float) -> dict[str, Any]:
    body = optibase.conversion_event(conversion.tested_user_field, conversion.tested_user)
    optibase.send_conversion_event(body, deadline)
    return {"checkout_session_id": conversion.checkout_session_id}


def count(metric: str) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


def answer(status: int, outcome: str, detail: str) -> dict[str, Any]:
    """The API Gateway response; the JSON body says what happened, for Stripe's delivery log."""
    logger.info("answered", extra={"status": status, "outcome": outcome, "detail": detail})
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"outcome": outcome, "detail": detail}),
    }
