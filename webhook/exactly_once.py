"""One Optibase conversion per Checkout Session, however often or concurrently Stripe delivers.

Powertools idempotency keeps a DynamoDB record per Checkout Session id: written "in progress"
before the call, "completed" once Optibase accepted it, deleted when the call fails so that
Stripe's retry runs again. A later delivery finds the record and sends nothing; a concurrent one
gets ConversionInProgress and is answered with an error, so Stripe retries it later.
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError as ConversionInProgress,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyPersistenceLayerError as RecordStoreUnavailable,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from webhook.aws import CLIENT_CONFIG, SESSION

__all__ = [
    "ConversionInProgress",
    "RecordStoreUnavailable",
    "once_per_checkout_session",
    "register_lambda_context",
]

# Stripe retries for up to 3 days and lists undelivered events for 30 (anyone may resend them):
# a replay within that window must still find the record.
RECORD_SECONDS = 30 * 24 * 3600

logger = Logger(child=True)
metrics = Metrics()  # shares the handler's metric set, flushed once per invocation


def _mark_duplicate(response: dict[str, Any], _record: DataRecord) -> dict[str, Any]:
    # Powertools calls this only when the answer comes from an existing record.
    return {**response, "duplicate": True}


class _ConversionRecords(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB records, except that failing to mark one "completed" is not an error.

    By then Optibase has the conversion: answering 5xx would make Stripe retry, and once the
    "in progress" record expired the retry would count the purchase again. So the update is
    tried once more, and if that fails too the failure is logged and counted, not raised.
    """

    def save_success(self, data: dict[str, Any], result: dict) -> None:
        for attempt in (1, 2):
            try:
                super().save_success(data, result)
                return
            except Exception:
                if attempt == 2:
                    logger.exception("conversion sent, but its record was not marked completed")
                    metrics.add_metric(name="RecordStoreFailures", unit=MetricUnit.Count, value=1)


_config = IdempotencyConfig(
    event_key_jmespath="checkout_session_id",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=RECORD_SECONDS,
    response_hook=_mark_duplicate,
)

records = _ConversionRecords(
    table_name=os.environ.get("IDEMPOTENCY_TABLE", ""),
    boto_config=CLIENT_CONFIG,
    boto3_session=SESSION,
)

# For a function whose keyword argument `conversion` (a checkout.Conversion) names the session.
# The key prefix is fixed: Powertools' default names the Lambda function and the Python function,
# so a renamed function or a replaced stack resource would forget every record.
once_per_checkout_session = idempotent_function(
    data_keyword_argument="conversion",
    config=_config,
    persistence_store=records,
    key_prefix="checkout-session",
)


def register_lambda_context(context: LambdaContext) -> None:
    """Lets an "in progress" record expire with the invocation, so a crashed one blocks no retry."""
    _config.register_lambda_context(context)
