"""`make build-WebhookFunction` (what `sam build` runs) makes a lean arm64 artifact.

This is the one slow test (about 10 s with a warm pip cache): pip downloads the Lambda platform's
wheels from the package index, so it needs network access to it, as CI has.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devtools.template import load_template

ROOT = Path(__file__).resolve().parent.parent
# Lambda's hard limit for an unzipped function with its layers.
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
MAKE = shutil.which("make")


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "_", name).lower()] = version
    return pins


@pytest.mark.skipif(MAKE is None, reason="needs make")
def test_build_target_makes_a_lean_arm64_artifact_from_index_wheels(tmp_path):
    artifact = tmp_path / "WebhookFunction"
    subprocess.run(
        [MAKE, "--no-print-directory", "build-WebhookFunction", f"ARTIFACTS_DIR={artifact}"],
        cwd=ROOT,
        check=True,
        timeout=600,
    )
    top_level = {path.name for path in artifact.iterdir()}

    # The runtime code, and nothing else of the repository.
    assert {"handler.py", "webhook"} <= top_level
    assert (artifact / "handler.py").read_bytes() == (ROOT / "handler.py").read_bytes()
    sources = sorted(path.name for path in (ROOT / "webhook").glob("*.py"))
    assert sorted(path.name for path in (artifact / "webhook").glob("*.py")) == sources
    assert not top_level & {"tests", "devtools", "events", "web", "Makefile", "template.yaml"}

    # The runtime dependencies at their pinned versions, and no development tools.
    assert {"stripe", "requests", "aws_lambda_powertools", "boto3", "botocore"} <= top_level
    installed = {
        re.sub(r"[-_.]+", "_", path.name.removesuffix(".dist-info").rsplit("-", 1)[0]).lower(): (
            path.name.removesuffix(".dist-info").rsplit("-", 1)[1]
        )
        for path in artifact.glob("*.dist-info")
    }
    assert pinned_requirements().items() <= installed.items()
    assert not top_level & {"pytest", "_pytest", "moto", "ruff", "cfnlint", "yaml", "playwright"}
    assert "bin" not in top_level  # console scripts of the dependencies: useless in Lambda

    # Compiled parts are for Lambda (arm64, the runtime's Python).
    extensions = [path.name for path in artifact.rglob("*.so")]
    assert extensions, "charset_normalizer ships compiled extensions"
    runtime = load_template()["Resources"]["WebhookFunction"]["Properties"]["Runtime"]
    abi = "cpython-" + runtime.removeprefix("python").replace(".", "")  # python3.13: cpython-313
    assert all(f"{abi}-aarch64-linux-gnu" in name for name in extensions), extensions
    # Bytecode, when there is any, is the runtime Python's own (any other would only be dead
    # weight) and hash-checked-free: a zip does not keep the timestamps Python would compare.
    bytecode = list(artifact.rglob("*.pyc"))
    assert all(f".{abi}.pyc" in path.name for path in bytecode), {p.name for p in bytecode}
    if bytecode:
        handler_pyc = artifact / "__pycache__" / f"handler.{abi}.pyc"
        flags = int.from_bytes(handler_pyc.read_bytes()[4:8], "little")
        assert flags == 0b01  # hash-based, unchecked (PEP 552)

    size = sum(path.stat().st_size for path in artifact.rglob("*") if path.is_file())
    assert size < LAMBDA_UNZIPPED_LIMIT
