"""moto's server on loopback standing in for SSM and DynamoDB, provisioned as template.yaml says."""

import socket
import subprocess
import sys
import time
import urllib.request
from types import TracebackType
from typing import Any

import boto3

from devtools.template import idempotency_table, load_template, time_to_live

REGION = "us-east-1"
# moto accepts any credentials; fixed fake ones keep boto3 from looking for real ones.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """`python -m moto.server` in a child process; stopped (and waited for) on exit."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "MotoServer":
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"moto server did not start on port {self.port}") from None
                time.sleep(0.1)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def reset(self) -> None:
        """Forget every parameter and table (moto's own reset API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=5).close()

    def client(self, service: str) -> Any:
        """A boto3 client of this server, for tests and set-up (not the function's own clients)."""
        return boto3.client(service, **_client_arguments(self.endpoint))

    def client_environment(self) -> dict[str, str]:
        """What a process needs so that boto3 talks to this server instead of AWS."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": REGION, **FAKE_CREDENTIALS}


def provision(endpoint: str, parameter_name: str, secret: str, table_name: str) -> None:
    """Create the signing-secret parameter and the idempotency table, as deployed."""
    ssm = boto3.client("ssm", **_client_arguments(endpoint))
    ssm.put_parameter(Name=parameter_name, Value=secret, Type="SecureString", Overwrite=True)
    dynamodb = boto3.client("dynamodb", **_client_arguments(endpoint))
    template = load_template()
    dynamodb.create_table(**idempotency_table(template, table_name))
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification=time_to_live(template)
    )


def _client_arguments(endpoint: str) -> dict[str, str]:
    return {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }
