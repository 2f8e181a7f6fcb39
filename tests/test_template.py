"""template.yaml deploys what the code expects, least-privileged; events/ holds valid deliveries."""

import ast
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from devtools import sign_events
from devtools.stripe_events import LOCAL_WEBHOOK_SECRET, SECRET_VARIABLE
from devtools.template import load_template
from webhook.api_gateway import webhook_request
from webhook.checkout import Conversion, Skip, conversion_for
from webhook.stripe_signature import InvalidStripeEvent, verified_stripe_event

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTION = RESOURCES["WebhookFunction"]["Properties"]
# A fixed signing time: 2026-12-04 00:00:00 UTC.
SIGNED_AT = 1796342400


ROLE = RESOURCES["WebhookFunctionRole"]["Properties"]


def statements() -> list[dict[str, Any]]:
    return [s for policy in ROLE["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_function_runtime_and_limits():
    assert FUNCTION["Handler"] == "handler.lambda_handler"
    assert FUNCTION["Runtime"] in ("python3.12", "python3.13")
    assert FUNCTION["Architectures"] == ["arm64"]
    # Long enough for Optibase retries, well inside the HTTP API's 30 s integration timeout.
    assert 10 <= FUNCTION["Timeout"] <= 29
    assert FUNCTION["MemorySize"] >= 256
    assert RESOURCES["WebhookFunction"]["Metadata"]["BuildMethod"] == "makefile"


def test_makefile_builds_for_the_template_runtime():
    makefile = (ROOT / "Makefile").read_text()
    version = re.search(r"^LAMBDA_PYTHON_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert version, "Makefile defines LAMBDA_PYTHON_VERSION"
    assert FUNCTION["Runtime"] == f"python{version.group(1)}"
    assert "--platform manylinux2014_aarch64" in makefile  # Architectures: arm64


def test_iam_names_exactly_the_log_group_parameter_and_table():
    # The function's own role with inline statements only: no SAM-generated role (its managed
    # policy writes to any log group), no SAM policy templates (DynamoDBCrudPolicy would allow
    # Scan, Query, BatchWrite… on the table) and no managed policies.
    assert FUNCTION["Role"] == {"Fn::GetAtt": ["WebhookFunctionRole", "Arn"]}
    assert "Policies" not in FUNCTION
    assert "ManagedPolicyArns" not in ROLE
    [trust] = ROLE["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    granted = {}
    for statement in statements():
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action
            granted[action] = statement["Resource"]
    parameter_arn = {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
        ":parameter${StripeWebhookSecretParameterName}"
    }
    table_arn = {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    log_group_arn = {"Fn::GetAtt": ["WebhookLogGroup", "Arn"]}
    assert granted == {
        "logs:CreateLogStream": log_group_arn,
        "logs:PutLogEvents": log_group_arn,
        "ssm:GetParameter": parameter_arn,
        "dynamodb:GetItem": table_arn,
        "dynamodb:PutItem": table_arn,
        "dynamodb:UpdateItem": table_arn,
        "dynamodb:DeleteItem": table_arn,
    }
    # The ARN above is "parameter" + name, so the name must start with "/".
    parameter = TEMPLATE["Parameters"]["StripeWebhookSecretParameterName"]
    assert parameter["AllowedPattern"].startswith("^/")
    assert re.fullmatch(parameter["AllowedPattern"], parameter["Default"])


def test_no_wildcard_resources_anywhere():
    text = json.dumps(TEMPLATE)
    assert '"Resource": "*"' not in text
    for statement in statements():
        for resource in as_list(statement["Resource"]):
            assert "*" not in json.dumps(resource)


def test_idempotency_table_matches_powertools_defaults(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # boto3 client creation only, no call
    layer = DynamoDBPersistenceLayer(table_name="any")
    table = RESOURCES["IdempotencyTable"]["Properties"]

    assert table["BillingMode"] == "PAY_PER_REQUEST"
    key = layer.key_attr
    assert table["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": key, "AttributeType": "S"}]
    assert layer.sort_key_attr is None
    assert table["TimeToLiveSpecification"] == {"AttributeName": layer.expiry_attr, "Enabled": True}
    assert FUNCTION["Environment"]["Variables"]["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}


def environment_names_read_by_the_code() -> set[str]:
    """Every constant name passed to os.environ.get / os.environ[...] / os.getenv at runtime."""
    names = set()
    for path in [ROOT / "handler.py", *sorted((ROOT / "webhook").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in (
                "os.environ.get",
                "os.getenv",
            ):
                key = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                key = node.slice
            else:
                continue
            assert isinstance(key, ast.Constant), f"{path.name}: environment name is not a literal"
            names.add(key.value)
    return names


def test_every_environment_variable_the_code_reads_is_set():
    read = environment_names_read_by_the_code()
    variables = FUNCTION["Environment"]["Variables"]

    assert {"STRIPE_WEBHOOK_SECRET_PARAM", "IDEMPOTENCY_TABLE"} <= read
    assert read <= set(variables)
    # Read by Powertools: Metrics raise without a namespace.
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(variables)
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"  # events carry customer details
    assert variables["STRIPE_WEBHOOK_SECRET_PARAM"] == {"Ref": "StripeWebhookSecretParameterName"}
    assert variables["OPTIBASE_PUBLIC_API_KEY"] == {"Ref": "OptibasePublicApiKey"}
    assert variables["OPTIBASE_CONVERSION_ID"] == {"Ref": "OptibaseConversionId"}


def test_route_is_post_stripe_webhook_on_a_throttled_http_api():
    events = FUNCTION["Events"]
    assert len(events) == 1
    (event,) = events.values()
    assert event["Type"] == "HttpApi"
    assert event["Properties"] == {
        "ApiId": {"Ref": "WebhookApi"},
        "Path": "/stripe/webhook",
        "Method": "POST",
    }
    api = RESOURCES["WebhookApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    throttling = api["Properties"]["DefaultRouteSettings"]
    assert throttling["ThrottlingRateLimit"] > 0
    assert throttling["ThrottlingBurstLimit"] > 0
    access_log = api["Properties"]["AccessLogSettings"]
    assert access_log["DestinationArn"] == {"Fn::GetAtt": ["WebhookApiAccessLogGroup", "Arn"]}
    assert json.loads(access_log["Format"])["status"] == "$context.status"


def test_logs_go_to_groups_with_retention():
    assert FUNCTION["LoggingConfig"]["LogGroup"] == {"Ref": "WebhookLogGroup"}
    for name in ("WebhookLogGroup", "WebhookApiAccessLogGroup"):
        assert RESOURCES[name]["Type"] == "AWS::Logs::LogGroup"
        assert RESOURCES[name]["Properties"]["RetentionInDays"] > 0


def metric_names_counted_by_the_code() -> set[str]:
    code = "\n".join(p.read_text() for p in [ROOT / "handler.py", *(ROOT / "webhook").glob("*.py")])
    return set(re.findall(r'count\("(\w+)"\)', code)) | set(
        re.findall(r'add_metric\(name="(\w+)"', code)
    )


def test_failure_alarm_watches_metrics_the_code_emits():
    alarm = TEMPLATE["Resources"]["ConversionFailuresAlarm"]["Properties"]
    environment = TEMPLATE["Resources"]["WebhookFunction"]["Properties"]["Environment"]
    variables = environment["Variables"]
    watched = [query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query]

    assert {metric["MetricName"] for metric in watched} == {
        "OptibaseFailures",
        "SigningSecretUnavailable",
        "RecordStoreFailures",
        "UnexpectedFailures",
    }
    assert {metric["MetricName"] for metric in watched} <= metric_names_counted_by_the_code()
    for metric in watched:
        assert metric["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]
        assert metric["Dimensions"] == [
            {"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}
        ]


def test_parameters_and_webhook_url_output():
    assert set(TEMPLATE["Parameters"]) == {
        "StripeWebhookSecretParameterName",
        "OptibasePublicApiKey",
        "OptibaseConversionId",
        "AlarmEmail",
    }
    url = TEMPLATE["Outputs"]["WebhookUrl"]["Value"]
    assert url == {"Fn::Sub": "${WebhookApi.ApiEndpoint}/stripe/webhook"}


def test_events_directory_holds_exactly_the_samples():
    on_disk = {path.name for path in (ROOT / "events").glob("*.json")}
    assert on_disk == {sample.file for sample in sign_events.SAMPLES}


def fresh_event(sample: sign_events.Sample, timestamp: int) -> dict[str, Any]:
    """The committed event's body, signed again by sign_events with the local secret."""
    committed = json.loads((ROOT / "events" / sample.file).read_text())
    body = sign_events.event_body(committed)
    return sign_events.signed_event(sample, body, LOCAL_WEBHOOK_SECRET, timestamp)


@pytest.mark.parametrize("sample", sign_events.SAMPLES, ids=lambda sample: sample.file)
def test_event_is_a_stripe_delivery_signed_with_the_local_secret(sample):
    event = fresh_event(sample, SIGNED_AT)
    request = webhook_request(event)  # what the handler reads: exact bytes and the header
    assert request.stripe_signature.startswith(f"t={SIGNED_AT},v1=")
    assert ("httpMethod" in event) == sample.rest_api
    assert json.loads(request.body)["object"] == "event"

    now = fresh_event(sample, int(time.time()))  # within Stripe's 300 s tolerance
    request = webhook_request(now)
    if sample.foreign_secret:
        with pytest.raises(InvalidStripeEvent, match="signature does not match"):
            verified_stripe_event(request.body, request.stripe_signature, [LOCAL_WEBHOOK_SECRET])
        return
    stripe_event = verified_stripe_event(
        request.body, request.stripe_signature, [LOCAL_WEBHOOK_SECRET]
    )
    outcome = conversion_for(stripe_event)
    if sample.outcome.startswith("200 converted"):
        assert isinstance(outcome, Conversion)
        assert outcome.tested_user in (
            sign_events.TESTED_USER_ID,
            sign_events.TESTED_USER_EXTERNAL_ID,
        )
    else:
        assert isinstance(outcome, Skip)
        assert not outcome.missing_visitor


def test_external_id_sample_converts_by_external_id():
    sample = next(s for s in sign_events.SAMPLES if "external-id" in s.file)
    request = webhook_request(fresh_event(sample, int(time.time())))
    stripe_event = verified_stripe_event(
        request.body, request.stripe_signature, [LOCAL_WEBHOOK_SECRET]
    )
    assert conversion_for(stripe_event).tested_user_field == "testedUserExternalId"


@pytest.mark.skipif(
    not sign_events.FIXTURES_DIR.is_dir(), reason="needs ../shared/stripe-fixtures beside the repo"
)
@pytest.mark.parametrize("sample", sign_events.SAMPLES, ids=lambda sample: sample.file)
def test_event_body_is_the_edited_fixture_byte_for_byte(sample):
    committed = json.loads((ROOT / "events" / sample.file).read_text())
    assert sign_events.event_body(committed) == sign_events.fixture_body(sample)


def test_sign_events_resigns_without_touching_the_bodies(tmp_path):
    secret = "whsec_from_the_environment"
    written = sign_events.write_events(secret, timestamp=SIGNED_AT, target=tmp_path)

    assert [path.name for path in written] == [sample.file for sample in sign_events.SAMPLES]
    for sample, path in zip(sign_events.SAMPLES, written, strict=True):
        event = json.loads(path.read_text())
        body = sign_events.event_body(event)
        committed = json.loads((ROOT / "events" / sample.file).read_text())
        assert body == sign_events.event_body(committed)
        key = sign_events.FOREIGN_SECRET if sample.foreign_secret else secret
        expected = sign_events.stripe_signature(body, key, SIGNED_AT)
        assert webhook_request(event).stripe_signature == expected


def test_signing_secret_comes_from_the_environment_or_the_local_default(monkeypatch):
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    secret, _ = sign_events.signing_secret()
    assert secret == LOCAL_WEBHOOK_SECRET == "whsec_local_development_secret"
    monkeypatch.setenv(SECRET_VARIABLE, " whsec_rolled ")
    assert sign_events.signing_secret() == ("whsec_rolled", SECRET_VARIABLE)
