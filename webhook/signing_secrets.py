"""The Stripe webhook signing secret(s), read from SSM Parameter Store and cached in memory."""

import os

from aws_lambda_powertools.utilities import parameters

from webhook.aws import CLIENT_CONFIG, SESSION

PARAMETER_NAME = os.environ.get("STRIPE_WEBHOOK_SECRET_PARAM", "")
# A rolled secret reaches a warm instance within this many seconds; cold ones read it at once.
CACHE_SECONDS = 300
SSM = parameters.SSMProvider(boto_config=CLIENT_CONFIG, boto3_session=SESSION)


class SigningSecretUnavailable(Exception):
    """The SSM parameter is missing, unreadable or empty."""


def stripe_signing_secrets() -> list[str]:
    """Every active signing secret: several, comma-separated, while one is rolled."""
    if not PARAMETER_NAME:
        raise SigningSecretUnavailable("STRIPE_WEBHOOK_SECRET_PARAM is not set")
    try:
        value = SSM.get(PARAMETER_NAME, decrypt=True, max_age=CACHE_SECONDS)
    except parameters.exceptions.GetParameterError as error:
        # The message names the parameter and AWS's error code, never the value.
        raise SigningSecretUnavailable(
            f"cannot read SSM parameter {PARAMETER_NAME}: {error}"
        ) from error
    secrets = [secret.strip() for secret in (value or "").split(",") if secret.strip()]
    if not secrets:
        raise SigningSecretUnavailable(f"SSM parameter {PARAMETER_NAME} is empty")
    return secrets
