"""The servers of the API scenario, one process each (``python -m bench.api_server KIND PORT …``).

* ``jobdeck``: ``create_app`` with 100 no-op jobs on 1-second intervals (phases spread over the second); each run
  appends ``<grid instant> <start>`` (epoch seconds) to the lateness file. Run as ``jobdeck serve`` runs: the
  engine on its own thread, the process tuned by :func:`jobdeck.server.run_server`.
* ``fastapi``: a bare FastAPI app whose ``GET /api/scheduler/jobs`` returns the JSON document in a file (the body
  jobdeck answered), no auth, no database.

Both are served the same way, by :func:`jobdeck.server.run_server`: one process, loopback, no access log.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

JOBS = 100


def jobdeck_app(database: Path, lateness_file: Path) -> Any:
    from bench.common import interval_spec, jobdeck_settings, sqlite_url
    from jobdeck.api.app import JobDeck, create_app

    out = lateness_file.open("a", buffering=1)
    deck = JobDeck(jobdeck_settings(sqlite_url(database), engine_thread=True))

    def make(index: int) -> Any:
        async def tick(ctx: Any) -> None:
            out.write(f"{ctx.scheduled_time.timestamp():.6f} {time.time():.6f}\n")

        return tick

    for i in range(JOBS):
        deck.add_job(interval_spec(f"job{i:03d}", make(i), 1, i / JOBS, display_name=f"Job {i}", tags=("bench",)))
    return create_app(deck=deck)


def fastapi_app(body: Path) -> Any:
    from fastapi import FastAPI

    document = json.loads(body.read_text())
    app = FastAPI()

    @app.get("/api/scheduler/jobs")
    async def jobs() -> Any:
        return document

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["jobdeck", "fastapi"])
    parser.add_argument("port", type=int)
    parser.add_argument("--database", type=Path)
    parser.add_argument("--lateness", type=Path)
    parser.add_argument("--body", type=Path)
    args = parser.parse_args()
    from jobdeck.server import run_server

    app = jobdeck_app(args.database, args.lateness) if args.kind == "jobdeck" else fastapi_app(args.body)
    print("starting", file=sys.stderr, flush=True)
    # Both as `jobdeck serve` runs (the process tuned for a server); jobdeck's engine on its own thread, as there.
    run_server(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
