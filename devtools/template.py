"""Read template.yaml, so local stand-ins and tests are built from the same definition as AWS."""

from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """Loads !Ref, !Sub, !GetAtt… as {"Ref": …}-style dicts instead of failing on the tags."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 (safe loader subclass)


def idempotency_table(template: dict[str, Any], table_name: str) -> dict[str, Any]:
    """create_table arguments for the template's idempotency table, under a local name."""
    properties = template["Resources"]["IdempotencyTable"]["Properties"]
    return {
        "TableName": table_name,
        "BillingMode": properties["BillingMode"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
    }


def time_to_live(template: dict[str, Any]) -> dict[str, Any]:
    spec = template["Resources"]["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]
    return {"AttributeName": spec["AttributeName"], "Enabled": spec["Enabled"]}


def function_environment(template: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """The function's environment variables, with each !Ref resolved from `values` (by name)."""
    variables = template["Resources"]["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    environment = {}
    for key, value in variables.items():
        if isinstance(value, dict):
            reference = value["Ref"]
            value = values.get(reference) or values[key]
        environment[key] = value
    return environment
