"""The OpenAPI document tells the truth: schemathesis against a real `jobdeck serve`, over every operation the server
publishes (read from its /openapi.json, never listed here), with valid and invalid inputs.

* As an admin (so auth does not mask everything), every phase but the stateful one (examples, coverage —
  boundary values, missing and extra parameters, unexpected methods — and fuzzing), every default check: no 5xx,
  no status the operation does not declare, no response that breaks its declared schema, content type or headers,
  schema-invalid input refused. (Schema-valid input may still get a deliberate 422 — a schedule that does not
  parse, kwargs the job does not take — so schemathesis's positive_data_acceptance heuristic is off.) Job ids are
  drawn half the time from the server's real jobs, so the happy paths run too, not only the 404s.
* Without a token: every /api operation but login answers 401 — or 422 when the request cannot even be parsed —
  in the error envelope, and nothing answers 5xx.

Streaming operations (``text/event-stream``) are left out: a generated request would hold its stream open; the
client tests cover the stream. ``MAX_EXAMPLES`` bounds the generated cases per operation and phase.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.engine import Status, events, from_schema
from serve_process import ServeProcess

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 30
JOB_IDS = ["walker", "echo", "boom"]


@schemathesis.check
def requires_a_token(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Without credentials an /api operation (login aside) is refused with 401 (422: unparseable input)."""
    path = case.operation.path
    if not path.startswith("/api/") or path == "/api/auth/login":
        return
    assert response.status_code in (401, 422), f"expected 401 without a token, got {response.status_code}"
    body = response.json()
    assert body["success"] is False and body["code"] and body["message"] == body["detail"], body
    if response.status_code == 422:
        assert body["code"] == "validation_error", body


def published_spec(url: str) -> dict[str, Any]:
    """The server's own document, without streaming operations."""
    spec: dict[str, Any] = httpx.get(f"{url}/openapi.json", timeout=10).json()
    for path, operations in list(spec["paths"].items()):
        for method, operation in list(operations.items()):
            if "text/event-stream" in operation.get("responses", {}).get("200", {}).get("content", {}):
                del operations[method]
        if not operations:
            del spec["paths"][path]
    return spec


def run_schemathesis(url: str, config: dict[str, Any]) -> tuple[list[str], Counter[str]]:
    """Run the engine over the server's document; the failures (one line each) and the cases sent per operation."""
    settings = {
        "base-url": url,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "dictionaries": {"job_ids": {"values": JOB_IDS}},
        "parameters": {"path.job_id": {"dictionary": "job_ids", "probability": 0.5}},
        "request-timeout": 20,
        **config,
    }
    schema = schemathesis.openapi.from_dict(published_spec(url), config=schemathesis.Config.from_dict(settings))
    failures: list[str] = []
    cases: Counter[str] = Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases[event.recorder.label] += len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status is Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        step = check.failure_info.code_sample.strip().splitlines()
                        failures.append(f"{event.recorder.label}: {check.name}: {failure.title} — {failure.message}")
                        failures.append(f"    {' '.join(step)[:400]}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"schemathesis error: {event.info.format() if hasattr(event, 'info') else event}")
    return failures, cases


def test_every_operation_answers_as_its_spec_says(serve: ServeProcess) -> None:
    started = time.monotonic()
    failures, cases = run_schemathesis(
        serve.url,
        {
            "headers": {"Authorization": f"Bearer {serve.admin_token}"},
            # positive_data_acceptance is off: a schema-valid request may still be refused with a 422 on purpose
            # (a schedule string that does not parse, kwargs the job does not take, a pause `until` in the past).
            "checks": {"requires_a_token": {"enabled": False}, "positive_data_acceptance": {"enabled": False}},
        },
    )
    elapsed = time.monotonic() - started
    print(f"\nconformance as admin: {sum(cases.values())} cases over {len(cases)} operations in {elapsed:.1f}s")
    assert not failures, "\n".join(failures[:60])
    published = sum(len(ops) for ops in published_spec(serve.url)["paths"].values())
    assert len(cases) == published and min(cases.values()) > 0, cases


def test_without_a_token_every_api_operation_is_401_in_the_envelope(serve: ServeProcess) -> None:
    failures, cases = run_schemathesis(
        serve.url,
        {
            "generation": {"mode": "positive", "max-examples": 5, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": False}},
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "requires_a_token": {"enabled": True},
            },
        },
    )
    assert not failures, "\n".join(failures[:60])
    assert len(cases) > 10, cases
