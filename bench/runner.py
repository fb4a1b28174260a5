"""The runner: each scenario in a fresh subprocess (clean heap, loop and threads), one table, one JSON file.

    python -m bench                      # full sizes (about 10–15 minutes on 2 cores)
    python -m bench --quick              # every scenario in under a minute each
    python -m bench --smoke              # tiny sizes, for the test suite (checks it runs, not how fast)
    python -m bench --only burst reads --json bench.json

Exit status: 0 when every scenario ran (targets missed or not; ``--strict`` makes a missed target exit 1), 2 when
a scenario crashed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Config, Row, Size

SCENARIOS = ["burst", "steady", "throughput", "reads", "api_load", "login_flood", "memory", "postgres"]
CHILD_TIMEOUT_S = 1800
ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import apscheduler

        aps = apscheduler.__version__
    except Exception:
        aps = "unknown"
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "apscheduler": aps,
    }


def run_child(name: str, size: Size) -> list[dict[str, Any]]:
    """Run one scenario in a subprocess; its rows come back as JSON on the last line of stdout."""
    with tempfile.TemporaryDirectory(prefix=f"jobdeck-bench-{name}-") as workdir:
        command = [sys.executable, "-m", "bench.runner", "--child", name, "--size", size, "--workdir", workdir]
        started = time.monotonic()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False, env=env, cwd=ROOT
        )
        elapsed = time.monotonic() - started
    if proc.stderr.strip():
        sys.stderr.write(_indent(proc.stderr))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"  {name}: FAILED (exit {proc.returncode}) after {elapsed:.1f}s", file=sys.stderr)
        return [
            {
                "name": name,
                "baseline": None,
                "jobdeck": None,
                "unit": "",
                "ratio": None,
                "target": "",
                "pass": False,
                "notes": f"scenario crashed (exit {proc.returncode})",
            }
        ]
    rows: list[dict[str, Any]] = json.loads(lines[-1])["rows"]
    print(f"  {name}: {elapsed:.1f}s", file=sys.stderr)
    return rows


def _indent(text: str) -> str:
    return "".join(f"    | {line}\n" for line in text.rstrip().splitlines())


def child(name: str, size: Size, workdir: Path) -> None:
    module = importlib.import_module(f"bench.{name}")
    rows: list[Row] = module.run(Config(size=size, workdir=workdir))
    print(json.dumps({"rows": [row.as_json() for row in rows]}), flush=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (it reads fine in a terminal too)."""
    header = ["scenario", "baseline", "jobdeck", "unit", "ratio", "target", "pass"]
    body = []
    for row in rows:
        verdict = {True: "yes", False: "NO", None: "—"}[row["pass"]]
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        body.append(
            [row["name"], _fmt(row["baseline"]), _fmt(row["jobdeck"]), row["unit"], ratio, row["target"], verdict]
        )
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in body]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_const", const="quick", dest="size", help="quick sizes (< 1 min each)")
    sizes.add_argument("--smoke", action="store_const", const="smoke", dest="size", help="tiny sizes (tests)")
    sizes.add_argument("--size", choices=["smoke", "quick", "full"], dest="size", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, metavar="NAME", help=f"some of {SCENARIOS}")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size: Size = args.size or "full"
    if args.child:
        child(args.child, size, args.workdir)
        return 0
    info = machine()
    print(
        f"jobdeck bench ({size}): {info['cpu_count']} × {info['cpu_model']}, Python {info['python']}, "
        f"SQLite {info['sqlite']}, APScheduler {info['apscheduler']}",
        file=sys.stderr,
    )
    rows: list[dict[str, Any]] = []
    for name in args.only or SCENARIOS:
        rows += [{"scenario": name, **row} for row in run_child(name, size)]
    print(table(rows))
    if args.json is not None:
        document = {"machine": info, "size": size, "scenarios": rows}
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    crashed = any(row["baseline"] is None or row["jobdeck"] is None for row in rows)
    missed = any(row["pass"] is False for row in rows)
    return 2 if crashed else 1 if missed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
