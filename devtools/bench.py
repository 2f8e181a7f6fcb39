"""`make bench`: what the webhook costs on this machine, next to the straightforward baseline.

Figures, never assertions: import time in a fresh process, the first event, warm CPU per event
(median, p99), AWS calls per warm event, artifact size; each for handler.py and for
devtools/bench_baseline.py, with the ratio and the targets marked PASS/MISS (informational: the
exit code is 0 unless something crashed). Results also go to bench-results/latest.json.

moto runs in a child process and each variant runs in child processes of its own, so moto's CPU
and the other variant never count. Warm CPU is `time.thread_time()` of the calling thread.
Imports read this venv's .pyc caches (an artifact without .pyc compiles at each cold start).
`python -m devtools.bench --profile` adds where a warm event of handler.py spends its CPU.

Only the standard library is imported at module level: the same file runs the warm-event workers.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devtools.stripe_events import sample_stripe_event

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
SAM_ARTIFACT = ROOT / ".aws-sam" / "build" / "WebhookFunction"

VARIANTS = {"handler": "handler", "baseline": "devtools.bench_baseline"}
SIGNING_SECRET = "whsec_bench_local_only_0123456789abcdef"  # noqa: S105 (a fake, for moto)
PARAMETER_NAME = "/optibase-stripe/webhook-secret"
TABLES = {"handler": "bench-idempotency-handler", "baseline": "bench-idempotency-baseline"}

TARGET_WARM_CPU_MS = 3.0
TARGET_DYNAMODB_CALLS = 2


# Runs in a fresh interpreter: imports only what the timing needs before the import it measures.
COLD_WORKER = """
import json, sys, time
from devtools.lambda_context import LocalLambdaContext
module_name, event_path, out_path = sys.argv[1:4]
with open(event_path) as file:
    event = json.load(file)
context = LocalLambdaContext()
wall0, cpu0 = time.perf_counter(), time.process_time()
module = __import__(module_name, fromlist=["lambda_handler"])
wall1, cpu1 = time.perf_counter(), time.process_time()
response = module.lambda_handler(event, context)
wall2, cpu2 = time.perf_counter(), time.process_time()
with open(out_path, "w") as file:
    json.dump({"import_s": wall1 - wall0, "import_cpu_s": cpu1 - cpu0,
               "first_event_s": wall2 - wall1, "first_event_cpu_s": cpu2 - cpu1,
               "status": response["statusCode"], "body": response["body"]}, file)
"""


# ----------------------------------------------------------------------------- events


class PaidEvents:
    """Paid checkout.session.completed deliveries, one Checkout Session per `(prefix, number)`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._template = sample_stripe_event("checkout.session.completed")

    def body(self, number: int) -> bytes:
        session_id = f"cs_test_bench_{self.prefix}_{number:06d}"
        event = json.loads(json.dumps(self._template))
        event["id"] = f"evt_bench_{self.prefix}_{number:06d}"
        event["type"] = "checkout.session.completed"
        session = event["data"]["object"]
        session["id"] = session_id
        session["payment_status"] = "paid"
        # An Optibase visitor id: 25 lower-case letters and digits, like the page script's.
        session["client_reference_id"] = hashlib.sha256(session_id.encode()).hexdigest()[:25]
        return json.dumps(event, indent=2).encode()

    def delivery(self, number: int) -> dict[str, Any]:
        """The API Gateway event for this session, signed now (as each Stripe retry is)."""
        from devtools.stripe_events import http_api_event, stripe_signature

        body = self.body(number)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": stripe_signature(body, SIGNING_SECRET),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        return http_api_event(body, headers)


def _outcome(response: dict[str, Any]) -> str:
    return f"{response['statusCode']} {json.loads(response['body']).get('outcome')}"


# ----------------------------------------------------------------------------- warm worker


def _count_aws_calls(counter: Counter[str]) -> None:
    """Counts every AWS API call (not retries) by service.Operation, whoever built the client."""
    import botocore.endpoint

    original = botocore.endpoint.Endpoint.make_request

    def make_request(self: Any, operation_model: Any, request_dict: Any) -> Any:
        counter[f"{operation_model.service_model.service_name}.{operation_model.name}"] += 1
        return original(self, operation_model, request_dict)

    botocore.endpoint.Endpoint.make_request = make_request


LAYERS = {
    "aws": "AWS API calls (botocore, all of them)",
    "aws.serialise": "serialise request",
    "aws.sign": "build + sign request (SigV4)",
    "aws.http": "HTTP exchange (urllib3 + http.client)",
    "aws.parse": "parse response",
    "optibase": "Optibase POST (requests.Session)",
    "stripe": "Stripe signature check (verify_header)",
    "logging": "log records (Powertools Logger: format + write)",
    "metrics": "metrics flush (EMF JSON + write)",
}


def _layer_timers() -> Counter[str]:
    """Adds the calling thread's CPU time spent in each layer (outermost call only) to a Counter."""
    import logging

    import botocore.client
    import botocore.endpoint
    import botocore.httpsession
    import botocore.parsers
    import botocore.serialize
    import requests
    import stripe
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    spent: Counter[str] = Counter()
    active: set[str] = set()

    def wrap(owner: Any, name: str, layer: str, static: bool = False) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if layer in active:  # nested (e.g. a subclass calling super()): count once
                return original(*args, **kwargs)
            active.add(layer)
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[layer] += time.thread_time() - start
                active.discard(layer)

        setattr(owner, name, staticmethod(timed) if static else timed)

    wrap(botocore.client.BaseClient, "_make_api_call", "aws")
    for serializer in {*botocore.serialize.SERIALIZERS.values()}:
        if "serialize_to_request" in vars(serializer):
            wrap(serializer, "serialize_to_request", "aws.serialise")
    wrap(botocore.endpoint.Endpoint, "create_request", "aws.sign")
    wrap(botocore.httpsession.URLLib3Session, "send", "aws.http")
    wrap(botocore.parsers.ResponseParser, "parse", "aws.parse")
    wrap(requests.Session, "request", "optibase")
    wrap(stripe.WebhookSignature, "verify_header", "stripe", static=True)
    wrap(logging.Logger, "handle", "logging")
    wrap(AmazonCloudWatchEMFProvider, "flush_metrics", "metrics")
    return spent


def _warm_worker(args: argparse.Namespace) -> None:
    from devtools.lambda_context import LocalLambdaContext

    calls: Counter[str] = Counter()
    _count_aws_calls(calls)
    module = __import__(VARIANTS[args.variant], fromlist=["lambda_handler"])
    events = PaidEvents(args.prefix)

    def invoke(number: int, expected: str) -> tuple[float, float, dict[str, int]]:
        event, context = events.delivery(number), LocalLambdaContext()
        calls.clear()
        wall, cpu = time.perf_counter(), time.thread_time()
        response = module.lambda_handler(event, context)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        if _outcome(response) != expected:
            raise RuntimeError(f"{args.variant}: expected {expected}, got {_outcome(response)}")
        return cpu, wall, dict(calls)

    number = 0
    for _ in range(args.warmup):  # the cold first event and the first few warm ones
        invoke(number, "200 converted")
        number += 1
    first_measured = number
    new = [invoke(first_measured + i, "200 converted") for i in range(args.events)]
    number += args.events
    # A retry of an already converted session, re-signed with a new timestamp.
    duplicate = [invoke(first_measured + i, "200 duplicate") for i in range(args.duplicates)]

    result: dict[str, Any] = {
        "sent": number,
        "new": {"cpu_s": [r[0] for r in new], "wall_s": [r[1] for r in new]},
        "duplicate": {"cpu_s": [r[0] for r in duplicate], "wall_s": [r[1] for r in duplicate]},
        "new_calls": [r[2] for r in new],
        "duplicate_calls": [r[2] for r in duplicate],
    }
    if args.profile_out:
        import cProfile

        # Wall clock (cProfile's own, cheap) timer; waits on sockets are set apart in the report.
        profiler = cProfile.Profile()
        for i in range(args.profile_events):
            event, context = events.delivery(number + i), LocalLambdaContext()
            profiler.enable()
            module.lambda_handler(event, context)
            profiler.disable()
        number += args.profile_events
        profiler.dump_stats(args.profile_out)
        # Then thread CPU per layer: a few timers around coarse calls, so little overhead.
        layers = _layer_timers()
        total = 0.0
        for i in range(args.profile_events):
            event, context = events.delivery(number + i), LocalLambdaContext()
            start = time.thread_time()
            module.lambda_handler(event, context)
            total += time.thread_time() - start
        number += args.profile_events
        result["layers"] = {"events": args.profile_events, "total_s": total, **layers}
        result["sent"] = number
    Path(args.out).write_text(json.dumps(result))


# ----------------------------------------------------------------------------- measurements


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stderr.decode()[-3000:]}")


def cold_starts(
    envs: dict[str, dict[str, str]], runs: int, workdir: Path
) -> dict[str, dict[str, Any]]:
    """Import + first event in fresh interpreters, the variants interleaved so drift hits both."""
    samples: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    for run in range(runs):
        for variant, module_name in VARIANTS.items():
            events = PaidEvents(f"cold{variant}")
            event_path, out_path = workdir / "cold-event.json", workdir / "cold-out.json"
            event_path.write_text(json.dumps(events.delivery(run)))
            command = [sys.executable, "-c", COLD_WORKER, module_name, str(event_path)]
            _run([*command, str(out_path)], envs[variant], f"cold start of {variant}")
            sample = json.loads(out_path.read_text())
            if sample["status"] != 200 or json.loads(sample["body"])["outcome"] != "converted":
                raise RuntimeError(f"cold start of {variant} answered {sample}")
            samples[variant].append(sample)
    summary = {}
    for variant, runs_ in samples.items():
        keys = ("import_s", "import_cpu_s", "first_event_s", "first_event_cpu_s")
        summary[variant] = {key: _median([s[key] for s in runs_]) for key in keys}
        summary[variant]["cold_total_s"] = _median(
            [s["import_s"] + s["first_event_s"] for s in runs_]
        )
        summary[variant]["runs"] = runs_
    return summary


def import_breakdown(module_name: str, env: dict[str, str], top: int = 6) -> list[tuple[str, int]]:
    """The biggest direct imports of `module_name` (`python -X importtime`), cumulative µs."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module_name}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    children: list[tuple[str, int]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        name = name[1:]
        level = (len(name) - len(name.lstrip(" "))) // 2
        if level == 1:  # the variant's own imports (it is at level 0)
            children.append((name.strip(), int(cumulative)))
    return sorted(children, key=lambda item: -item[1])[:top]


def warm(
    variant: str, env: dict[str, str], args: argparse.Namespace, workdir: Path, profile: bool
) -> dict[str, Any]:
    out = workdir / f"warm-{variant}.json"
    command = [
        sys.executable, "-m", "devtools.bench", "--worker", "--variant", variant,
        "--prefix", f"warm{variant}", "--events", str(args.events),
        "--duplicates", str(args.duplicates), "--warmup", str(args.warmup), "--out", str(out),
    ]  # fmt: skip
    if profile:
        command += ["--profile-out", str(workdir / f"profile-{variant}.pstats")]
        command += ["--profile-events", str(args.profile_events)]
    _run(command, env, f"warm events of {variant}")
    raw = json.loads(out.read_text())
    summary: dict[str, Any] = {"sent": raw["sent"], "layers": raw.get("layers")}
    for kind in ("new", "duplicate"):
        cpu, wall = raw[kind]["cpu_s"], raw[kind]["wall_s"]
        per_event = raw[f"{kind}_calls"]
        operations = sorted({op for calls in per_event for op in calls})
        summary[kind] = {
            "events": len(cpu),
            "cpu_median_s": _median(cpu),
            "cpu_p99_s": _p99(cpu),
            "wall_median_s": _median(wall),
            "aws_calls_mean": {
                op: sum(calls.get(op, 0) for calls in per_event) / len(per_event)
                for op in operations
            },
            "aws_calls_max": {
                op: max(calls.get(op, 0) for calls in per_event) for op in operations
            },
        }
    return summary


# ----------------------------------------------------------------------------- artifact size


def _requirements(skip: tuple[str, ...] = ()) -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    wanted = [line.split("#")[0].strip() for line in lines]
    return [line for line in wanted if line and not line.lower().startswith(skip)]


def _lambda_pip_flags() -> list[str]:
    """pip flags for the function's runtime and architecture (template.yaml): wheels, no .pyc."""
    from devtools.template import load_template

    function = load_template()["Resources"]["WebhookFunction"]["Properties"]
    version = function["Runtime"].removeprefix("python")
    machine = "aarch64" if function.get("Architectures", ["x86_64"])[0] == "arm64" else "x86_64"
    return [
        "--platform", f"manylinux2014_{machine}", "--implementation", "cp",
        "--python-version", version, "--only-binary=:all:", "--no-compile",
    ]  # fmt: skip


def _pip_target(requirements: list[str], name: str) -> Path:
    """The requirements installed as the Lambda build installs them, cached by requirement set."""
    flags = _lambda_pip_flags()
    key = hashlib.sha256(json.dumps([requirements, flags]).encode()).hexdigest()[:12]
    target = RESULTS / "artifact-cache" / f"{name}-{key}"
    if (target / ".complete").exists():
        return target
    for stale in target.parent.glob(f"{name}-*"):  # older requirement sets: one cache per name
        shutil.rmtree(stale, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += [*flags, "--target", str(target), *requirements]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pip install --target failed: {done.stderr.strip()[-500:]}")
    (target / ".complete").touch()
    return target


def _artifact_files(roots: list[tuple[Path, str]]) -> Iterator[tuple[Path, str]]:
    """(file, name in the zip) for every file under each (directory or file, prefix)."""
    for root, prefix in roots:
        if root.is_file():
            yield root, prefix + root.name
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.name != ".complete":
                yield path, prefix + path.relative_to(root).as_posix()


def _measure(roots: list[tuple[Path, str]], source: str) -> dict[str, Any]:
    unzipped, files, by_package = 0, 0, Counter()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "artifact.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
            for path, name in _artifact_files(roots):
                size = path.stat().st_size
                unzipped, files = unzipped + size, files + 1
                top = name.split("/", 1)[0]
                by_package[top.split("-")[0] if top.endswith(".dist-info") else top] += size
                zipped.write(path, name)
        zipped_bytes = archive.stat().st_size
    return {
        "source": source,
        "files": files,
        "unzipped_bytes": unzipped,
        "zipped_bytes": zipped_bytes,
        "largest": by_package.most_common(5),
    }


def _make_target_exists(make: str | None, target: str) -> bool:
    if not make:
        return False
    done = subprocess.run(
        [make, "-n", target, "ARTIFACTS_DIR=/nonexistent"],
        cwd=ROOT, capture_output=True, check=False,
    )  # fmt: skip
    return done.returncode == 0


def artifact_sizes() -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    make = shutil.which("make")
    try:
        if SAM_ARTIFACT.is_dir():
            results["handler"] = _measure([(SAM_ARTIFACT, "")], "sam build (.aws-sam/build)")
        elif make and _make_target_exists(make, "build-WebhookFunction"):
            built = RESULTS / "artifact"
            shutil.rmtree(built, ignore_errors=True)
            command = [make, "--no-print-directory", "build-WebhookFunction"]
            _run([*command, f"ARTIFACTS_DIR={built}"], dict(os.environ), "make build")
            results["handler"] = _measure(
                [(built, "")], "make build-WebhookFunction (as sam build runs it)"
            )
            results["handler"]["import"] = artifact_import(built, make)
        else:
            code = [(ROOT / "handler.py", ""), *_code_dir(ROOT / "webhook", "webhook/")]
            deps = _pip_target(_requirements(), "handler")
            results["handler"] = _measure(
                [(deps, ""), *code], "pip --target of requirements.txt + handler.py + webhook/"
            )
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        results["handler"] = {"source": f"unavailable: {error}"}
    try:
        # The tutorial bundles the same pinned boto3/requests/stripe, without Powertools.
        deps = _pip_target(_requirements(skip=("aws-lambda-powertools",)), "baseline")
        code = [(ROOT / "devtools" / "bench_baseline.py", "")]
        results["baseline"] = _measure(
            [(deps, ""), *code], "pip --target of boto3, requests, stripe + bench_baseline.py"
        )
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        results["baseline"] = {"source": f"unavailable: {error}"}
    return results


def artifact_import(artifact: Path, make: str, runs: int = 5) -> dict[str, Any]:
    """`import handler` from the built artifact by the runtime's Python, with and without its
    bytecode: Lambda cannot write .pyc files into /var/task, so without them every cold start
    compiles every module again."""
    found = subprocess.run(
        [make, "--no-print-directory", "-s", "print-lambda-python"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    python = found.stdout.strip()
    if not python:
        return {"source": "no Python of the Lambda runtime's version on this machine"}
    without = RESULTS / "artifact-without-bytecode"
    shutil.rmtree(without, ignore_errors=True)
    shutil.copytree(artifact, without, ignore=shutil.ignore_patterns("__pycache__"))
    environment = {
        "PATH": "/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "IDEMPOTENCY_TABLE": "bench",
        "STRIPE_WEBHOOK_SECRET_PARAM": PARAMETER_NAME,
    }
    code = "import time; t = time.perf_counter(); import handler; print(time.perf_counter() - t)"
    seconds: dict[str, list[float]] = {"with_bytecode": [], "without_bytecode": []}
    for _ in range(runs):  # alternated, so drifting machine load hits both alike
        for key, directory in (("with_bytecode", artifact), ("without_bytecode", without)):
            done = subprocess.run(
                [python, "-c", code], cwd=directory, env=environment,
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            seconds[key].append(float(done.stdout.strip().splitlines()[-1]))
    shutil.rmtree(without)
    return {"python": python, **{k: statistics.median(v) for k, v in seconds.items()}}


def _code_dir(directory: Path, prefix: str) -> list[tuple[Path, str]]:
    return [(path, prefix) for path in sorted(directory.glob("*.py"))]


# ----------------------------------------------------------------------------- profile


SOCKET_WAITS = ("of '_socket.socket' objects", "of 'select.", "of '_ssl._SSLSocket' objects")


def _category(filename: str, function: str) -> str:
    if filename == "~" and any(name in function for name in SOCKET_WAITS):
        return "socket calls (mostly waiting: not CPU)"
    path = filename.replace("\\", "/")
    rules = [
        ("aws_lambda_powertools/utilities/idempotency", "powertools idempotency"),
        ("aws_lambda_powertools/logging", "powertools logger"),
        ("aws_lambda_powertools/metrics", "powertools metrics"),
        ("aws_lambda_powertools/utilities/parameters", "powertools parameters"),
        ("aws_lambda_powertools", "powertools (other)"),
        ("botocore/auth.py", "botocore signing (SigV4)"),
        ("botocore/serialize.py", "botocore serialise"),
        ("botocore/parsers.py", "botocore parse"),
        ("botocore/hooks.py", "botocore event hooks"),
        ("botocore/", "botocore (other)"),
        ("boto3/", "boto3"),
        ("urllib3/", "urllib3"),
        ("requests/", "requests"),
        ("stripe/", "stripe"),
        ("jmespath/", "jmespath"),
        ("/json/", "json"),
        ("/logging/", "logging (stdlib)"),
        ("/http/client.py", "http.client/socket/ssl"),
        ("/socket.py", "http.client/socket/ssl"),
        ("/ssl.py", "http.client/socket/ssl"),
        ("/email/", "http.client/socket/ssl"),
        ("/webhook/", "webhook/ + handler.py"),
        ("handler.py", "webhook/ + handler.py"),
        ("devtools/bench_baseline.py", "baseline code"),
    ]
    for needle, category in rules:
        if needle in path:
            return category
    if filename == "~":
        return "builtins"
    return f"stdlib ({Path(path).stem.strip('<>').removeprefix('frozen ')})"


def layer_report(layers: dict[str, Any], aws_calls: float) -> list[str]:
    """Thread CPU per event by layer, from the timers of _layer_timers."""
    events, total = layers["events"], layers["total_s"]

    def line(label: str, seconds: float, indent: int = 1) -> str:
        share = f"{seconds / total:6.1%}" if total else ""
        return (
            f"{'  ' * indent}{label:<{64 - 2 * indent}} {seconds / events * 1000:7.3f} ms {share}"
        )

    aws = layers.get("aws", 0.0)
    aws_parts = ("aws.serialise", "aws.sign", "aws.http", "aws.parse")
    outer = ("aws", "optibase", "stripe", "logging", "metrics")
    lines = [
        f"Thread CPU of a warm new conversion by layer (mean of {events} events; "
        f"{aws_calls:.0f} AWS calls each):",
        line("handler.lambda_handler, all of it", total, 1),
    ]
    for layer in outer:
        lines.append(line(LAYERS[layer], layers.get(layer, 0.0), 2))
        if layer == "aws":
            for part in aws_parts:
                lines.append(line(LAYERS[part], layers.get(part, 0.0), 3))
            rest = aws - sum(layers.get(part, 0.0) for part in aws_parts)
            lines.append(line("rest: event hooks, validation, endpoint rules, retries", rest, 3))
    rest = total - sum(layers.get(layer, 0.0) for layer in outer)
    lines.append(line("rest: Powertools idempotency bookkeeping, handler code, json", rest, 2))
    return lines


def profile_report(
    path: Path, events: int, layers: dict[str, Any] | None, aws_calls: float, top: int = 20
) -> tuple[list[str], dict[str, Any]]:
    """The layer breakdown, then cProfile: self time by area (C builtins charged to their
    callers, socket waits apart) and the top functions."""
    import pstats

    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    areas: Counter[str] = Counter()
    for (filename, _line, function), (_cc, _nc, tottime, _ct, callers) in raw.items():
        category = _category(filename, function)
        if category != "builtins" or not callers:
            areas[category] += tottime
            continue
        edge_total = sum(edge[2] for edge in callers.values()) or 1.0
        for (caller_file, _l, caller_function), edge in callers.items():
            share = tottime * edge[2] / edge_total
            areas[_category(caller_file, caller_function)] += share
    waiting = areas["socket calls (mostly waiting: not CPU)"]
    lines = [*layer_report(layers, aws_calls), ""] if layers else []
    lines += [
        f"cProfile of {events} warm new conversions of handler.py: wall {total / events * 1000:.2f}"
        f" ms/event under the profiler, {(total - waiting) / events * 1000:.2f} ms of it outside"
        " socket calls (the profiler inflates small calls: compare areas, not absolutes).",
        "Self time by area (C builtins charged to the area that called them):",
    ]
    for area, seconds in areas.most_common():
        if seconds / total >= 0.005:
            lines.append(
                f"  {area:<42} {seconds / events * 1000:7.3f} ms/event {seconds / total:6.1%}"
            )
    lines += ["Top functions by cumulative time (per event):"]
    entries = sorted(raw.items(), key=lambda item: -item[1][3])
    shown = 0
    for (filename, line, function), (_cc, calls, tottime, cumtime, _callers) in entries:
        if filename == "~" and function.startswith("<built-in method builtins.exec"):
            continue
        where = f"{_short(filename)}:{line}({function})" if filename != "~" else function
        lines.append(
            f"  {cumtime / events * 1000:7.3f} cum {tottime / events * 1000:7.3f} self "
            f"{calls / events:6.1f} calls  {where}"
        )
        shown += 1
        if shown == top:
            break
    summary: dict[str, Any] = {
        "cprofile_events": events,
        "cprofile_wall_ms_per_event": total / events * 1000,
        "cprofile_areas_ms_per_event": {k: v / events * 1000 for k, v in areas.most_common()},
    }
    if layers:
        summary["layers_cpu_ms_per_event"] = {
            key: value / layers["events"] * 1000 for key, value in layers.items() if key != "events"
        }
    return lines, summary


def _short(filename: str) -> str:
    marker = "site-packages/"
    if marker in filename:
        return filename.split(marker, 1)[1]
    try:
        return Path(filename).relative_to(ROOT).as_posix()
    except ValueError:
        return Path(filename).name


# ----------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def _ratio(ours: float | None, baseline: float | None) -> str:
    if ours is None or not baseline:
        return "-"
    return f"{ours / baseline:.2f}x"


def table(results: dict[str, Any]) -> list[str]:
    cold, warm_, artifact = results["cold"], results["warm"], results["artifact"]
    rows: list[tuple[str, str, str, str]] = []

    def row(label: str, pick: Callable[[str], float | None], fmt: Callable[[float], str]) -> None:
        values = {}
        for variant in VARIANTS:
            try:
                values[variant] = pick(variant)
            except (KeyError, TypeError):
                values[variant] = None
        shown = [fmt(v) if v is not None else "n/a" for v in values.values()]
        rows.append((label, *shown, _ratio(values["handler"], values["baseline"])))

    runs = results["config"]["cold_runs"]
    row(f"import, fresh process (median of {runs})", lambda v: cold[v]["import_s"], _ms)
    row("  CPU of that import", lambda v: cold[v]["import_cpu_s"], _ms)
    row("first event after import (wall)", lambda v: cold[v]["first_event_s"], _ms)
    row("cold start = import + first event", lambda v: cold[v]["cold_total_s"], _ms)
    events = results["config"]["events"]
    row(f"warm CPU/event, median ({events} new)", lambda v: warm_[v]["new"]["cpu_median_s"], _ms)
    row("warm CPU/event, p99", lambda v: warm_[v]["new"]["cpu_p99_s"], _ms)
    row("warm wall/event, median", lambda v: warm_[v]["new"]["wall_median_s"], _ms)
    dup = results["config"]["duplicates"]
    row(f"warm CPU/duplicate, median ({dup})", lambda v: warm_[v]["duplicate"]["cpu_median_s"], _ms)
    row(
        "AWS calls per warm new conversion",
        lambda v: sum(warm_[v]["new"]["aws_calls_mean"].values()),
        lambda x: f"{x:.2f}",
    )
    operations = sorted(
        {
            op
            for v in VARIANTS
            for kind in ("new", "duplicate")
            for op in warm_[v][kind]["aws_calls_mean"]
        }
    )
    for op in operations:
        row(
            f"  {op}",
            lambda v, op=op: warm_[v]["new"]["aws_calls_mean"].get(op, 0.0),
            lambda x: f"{x:.2f}",
        )
    row(
        "AWS calls per warm duplicate",
        lambda v: sum(warm_[v]["duplicate"]["aws_calls_mean"].values()),
        lambda x: f"{x:.2f}",
    )
    for op in operations:
        row(
            f"  {op}",
            lambda v, op=op: warm_[v]["duplicate"]["aws_calls_mean"].get(op, 0.0),
            lambda x: f"{x:.2f}",
        )
    row("artifact, unzipped", lambda v: artifact[v]["unzipped_bytes"], _mb)
    row("artifact, zipped (deflate)", lambda v: artifact[v]["zipped_bytes"], _mb)

    header = ("", "ours (handler.py)", "baseline", "ours/baseline")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        label, *figures = cells
        return "  ".join(
            [
                label.ljust(widths[0]),
                *(f.rjust(w) for f, w in zip(figures, widths[1:], strict=True)),
            ]
        )

    out = [line(header)]
    out.append("-" * len(out[0]))
    out += [line(row_) for row_ in rows]
    return out


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    ours = results["warm"]["handler"]
    cold = results["cold"]
    warm_max: Counter[str] = Counter()
    for kind in ("new", "duplicate"):
        for op, count in ours[kind]["aws_calls_max"].items():
            warm_max[op] = max(warm_max[op], count)
    ssm = sum(count for op, count in warm_max.items() if op.startswith("ssm."))
    dynamodb_max = max(
        sum(
            count for op, count in ours[kind]["aws_calls_max"].items() if op.startswith("dynamodb.")
        )
        for kind in ("new", "duplicate")
    )
    cpu = ours["new"]["cpu_median_s"] * 1000
    return [
        {
            "target": f"warm CPU per event, median < {TARGET_WARM_CPU_MS:g} ms",
            "value": f"{cpu:.2f} ms",
            "pass": cpu < TARGET_WARM_CPU_MS,
        },
        {
            "target": "no SSM call per warm event",
            "value": f"at most {ssm} per event",
            "pass": ssm == 0,
        },
        {
            "target": f"at most {TARGET_DYNAMODB_CALLS} DynamoDB calls per warm event",
            "value": f"at most {dynamodb_max} per event",
            "pass": dynamodb_max <= TARGET_DYNAMODB_CALLS,
        },
        {
            "target": "cold start (import + first event) no slower than baseline",
            "value": f"{_ms(cold['handler']['cold_total_s'])} vs "
            f"{_ms(cold['baseline']['cold_total_s'])}",
            "pass": cold["handler"]["cold_total_s"] <= cold["baseline"]["cold_total_s"],
        },
    ]


# ----------------------------------------------------------------------------- main


def _environments(moto_env: dict[str, str], optibase_url: str) -> dict[str, dict[str, str]]:
    from devtools.template import function_environment, load_template

    template = load_template()
    envs = {}
    for variant in VARIANTS:
        values = {
            "StripeWebhookSecretParameterName": PARAMETER_NAME,
            "OptibasePublicApiKey": "bench-public-api-key",
            "OptibaseConversionId": "Stripe Purchase",
            "IdempotencyTable": TABLES[variant],
        }
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(function_environment(template, values))
        env.update(moto_env)
        env["OPTIBASE_ENDPOINT"] = optibase_url
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env["PYTHONPATH"] = str(ROOT)
        envs[variant] = env
    return envs


def main(args: argparse.Namespace) -> int:
    from devtools.aws import MotoServer, provision
    from devtools.optibase_standin import OptibaseStandIn

    started = time.monotonic()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "config": {
            "events": args.events,
            "duplicates": args.duplicates,
            "warmup": args.warmup,
            "cold_runs": args.cold_runs,
        },
    }
    profile_lines: list[str] = []
    with MotoServer() as moto, OptibaseStandIn() as optibase, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for variant in VARIANTS:
            provision(moto.endpoint, PARAMETER_NAME, SIGNING_SECRET, TABLES[variant])
        envs = _environments(moto.client_environment(), optibase.url)

        print(f"cold starts: {args.cold_runs} fresh processes per variant ...", flush=True)
        results["cold"] = cold_starts(envs, args.cold_runs, workdir)
        results["imports"] = {
            variant: import_breakdown(module, envs[variant]) for variant, module in VARIANTS.items()
        }
        results["warm"] = {}
        for variant in VARIANTS:
            print(f"warm events: {variant} ...", flush=True)
            profile = args.profile and variant == "handler"
            results["warm"][variant] = warm(variant, envs[variant], args, workdir, profile)
            if profile:
                ours = results["warm"][variant]
                profile_lines, results["profile"] = profile_report(
                    workdir / f"profile-{variant}.pstats",
                    args.profile_events,
                    ours.pop("layers"),
                    sum(ours["new"]["aws_calls_mean"].values()),
                )
        expected = args.cold_runs * len(VARIANTS) + sum(
            results["warm"][v]["sent"] for v in VARIANTS
        )
        received = len(optibase.received)
    if received != expected:
        raise RuntimeError(f"Optibase stand-in got {received} conversions, expected {expected}")

    print("artifact size ...", flush=True)
    results["artifact"] = artifact_sizes()
    results["targets"] = targets(results)
    results["bench_seconds"] = round(time.monotonic() - started, 1)

    machine = results["machine"]
    print()
    print(
        f"make bench - {results['date']} - Python {machine['python']}, {machine['cpus']} CPUs, "
        f"{machine['platform']}"
    )
    print(
        "Medians unless stated; warm CPU = thread CPU of the invoking thread (moto runs in "
        "another process, Optibase in other threads). Imports use this venv's .pyc caches."
    )
    print()
    print("\n".join(table(results)))
    print()
    for variant in VARIANTS:
        artifact = results["artifact"][variant]
        print(f"artifact {variant}: {artifact['source']}")
        if "largest" in artifact:
            largest = ", ".join(f"{name} {_mb(size)}" for name, size in artifact["largest"])
            print(f"  {artifact['files']} files; largest: {largest}")
        measured = artifact.get("import", {})
        if "with_bytecode" in measured:
            print(
                f"  import handler from it with {measured['python']} (median of 5, fresh process):"
                f" {_ms(measured['with_bytecode'])} with its bytecode,"
                f" {_ms(measured['without_bytecode'])} without"
            )
        elif measured:
            print(f"  import from it not measured: {measured['source']}")
    for variant, module in VARIANTS.items():
        imports = ", ".join(
            f"{name} {us / 1000:.0f} ms" for name, us in results["imports"][variant]
        )
        print(f"biggest imports of {module} (-X importtime, one run): {imports}")
    print()
    print("Targets (informational):")
    for target in results["targets"]:
        mark = "PASS" if target["pass"] else "MISS"
        print(f"  [{mark}] {target['target']}: {target['value']}")
    if profile_lines:
        print()
        print("\n".join(profile_lines))
    elif not results["targets"][0]["pass"]:
        print("  warm CPU target missed: `python -m devtools.bench --profile` shows where it goes")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(f"bench took {results['bench_seconds']} s; results in bench-results/latest.json")
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=400, help="warm new conversions measured")
    parser.add_argument("--duplicates", type=int, default=100, help="warm duplicates measured")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured events first")
    parser.add_argument("--cold-runs", type=int, default=7, help="fresh processes per variant")
    parser.add_argument("--profile", action="store_true", help="cProfile warm events of handler.py")
    parser.add_argument("--profile-events", type=int, default=300)
    # Internal: the warm-event worker (a child process per variant).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _arguments()
    if arguments.worker:
        _warm_worker(arguments)
    else:
        sys.exit(main(arguments))
