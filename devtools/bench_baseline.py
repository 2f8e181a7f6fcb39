"""BENCHMARK BASELINE ONLY: never deployed, never imported by handler.py or webhook/.

The "straightforward version" `make bench` compares the real handler with: the webhook as a
typical tutorial writes it. Every request builds its own boto3 clients, reads the signing secret
from SSM, verifies with `stripe.Webhook.construct_event`, claims the Checkout Session with a
conditional DynamoDB put and posts to Optibase with a one-off `requests.post`. It reads the same
environment variables and takes the same API Gateway events as handler.py, so both run against
the same stand-ins. It deliberately keeps the per-request costs the real handler avoids.
"""

import base64
import json
import os
import time
from typing import Any

import boto3
import requests
import stripe

RECORD_SECONDS = 30 * 24 * 3600


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = event.get("body") or ""
    if event.get("isBase64Encoded"):
        payload = base64.b64decode(payload).decode("utf-8")
    signature = (event.get("headers") or {}).get("stripe-signature", "")

    ssm = boto3.client("ssm")
    secret = ssm.get_parameter(Name=os.environ["STRIPE_WEBHOOK_SECRET_PARAM"], WithDecryption=True)[
        "Parameter"
    ]["Value"]
    try:
        stripe_event = stripe.Webhook.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError):
        return _answer(400, "rejected")

    session = stripe_event.data.object
    if stripe_event.type != "checkout.session.completed" or session.payment_status != "paid":
        return _answer(200, "skipped")
    if not session.client_reference_id:
        return _answer(200, "skipped")

    dynamodb = boto3.client("dynamodb")
    table = os.environ["IDEMPOTENCY_TABLE"]
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                "id": {"S": session.id},
                "expiration": {"N": str(int(time.time()) + RECORD_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(id)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return _answer(200, "duplicate")

    response = requests.post(
        os.environ["OPTIBASE_ENDPOINT"],
        json={
            "publicApiKey": os.environ["OPTIBASE_PUBLIC_API_KEY"],
            "userFriendlyConversionId": os.environ["OPTIBASE_CONVERSION_ID"],
            "testedUserId": session.client_reference_id,
        },
        timeout=10,
    )
    if not response.ok:
        dynamodb.delete_item(TableName=table, Key={"id": {"S": session.id}})
        return _answer(502, "failed")
    return _answer(200, "converted")


def _answer(status: int, outcome: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"outcome": outcome}),
    }
