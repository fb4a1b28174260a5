"""The benchmark suite runs end to end and writes well-formed JSON (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("JOBDECK_REQUIRE_ALL") == "1"


ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["burst", "steady", "throughput", "reads", "api_load", "login_flood", "memory", "postgres"]


def _postgres_listening() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_bench_smoke_run_writes_every_scenario(tmp_path: Path) -> None:
    scenarios = [s for s in SCENARIOS if s != "postgres" or REQUIRE_ALL or _postgres_listening()]
    out = tmp_path / "bench.json"
    env = {**os.environ, "JOBDECK_BENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out), "--only", *scenarios],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    document = json.loads(out.read_text())
    assert {"cpu_count", "cpu_model", "python", "sqlite"} <= document["machine"].keys()
    rows = document["scenarios"]
    assert {row["scenario"] for row in rows} == set(scenarios)
    for row in rows:
        assert {"name", "baseline", "jobdeck", "unit", "ratio", "target", "pass"} <= row.keys(), row
        for key in ("baseline", "jobdeck", "ratio"):
            assert isinstance(row[key], int | float) and math.isfinite(row[key]), row
        assert row["pass"] in (True, False, None), row
    assert "| scenario" in proc.stdout
