"""Write the server's OpenAPI document and regenerate the TypeScript types from it; ``--check`` finds drift.

    .venv/bin/python clients/typescript/scripts/openapi.py          # rewrite openapi.json and src/schema.ts
    .venv/bin/python clients/typescript/scripts/openapi.py --check  # exit 1 when either differs from the code

The document comes from ``create_app(...).openapi()``: no server, no database. The types come from
``openapi-typescript`` (a devDependency: run ``npm ci`` in clients/typescript first).
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent.parent
SPEC_FILE = PACKAGE / "openapi.json"
TYPES_FILE = PACKAGE / "src" / "schema.ts"
GENERATOR = PACKAGE / "node_modules" / ".bin" / "openapi-typescript"


def current_spec() -> dict[str, Any]:
    """The OpenAPI document of the code as it is now (independent of the environment's JOBDECK_* settings)."""
    from jobdeck.api.app import create_app
    from jobdeck.config import Settings

    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", jobs_file=None, timezone="UTC")
    return create_app(settings).openapi()


def spec_text(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


def generate_types(spec_path: Path, out_path: Path) -> None:
    """Run openapi-typescript on ``spec_path``, writing ``out_path``."""
    if not GENERATOR.exists():
        raise SystemExit(f"{GENERATOR} is missing: run `npm ci` in {PACKAGE}")
    subprocess.run(
        [str(GENERATOR), str(spec_path), "--output", str(out_path)],
        cwd=PACKAGE,
        check=True,
        capture_output=True,
        text=True,
    )


def drift() -> list[str]:
    """One line (plus a short diff) per committed file that differs from what the current code generates."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "openapi.json"
        types_path = Path(tmp) / "schema.ts"
        spec_path.write_text(spec_text(current_spec()))
        generate_types(spec_path, types_path)
        for fresh, committed in ((spec_path, SPEC_FILE), (types_path, TYPES_FILE)):
            old = committed.read_text() if committed.exists() else ""
            new = fresh.read_text()
            if old != new:
                diff = difflib.unified_diff(
                    old.splitlines(), new.splitlines(), str(committed), "generated", n=1, lineterm=""
                )
                excerpt = "\n".join(list(diff)[:40])
                problems.append(f"{committed.relative_to(PACKAGE.parent.parent)} is out of date:\n{excerpt}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on drift")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("regenerate with: .venv/bin/python clients/typescript/scripts/openapi.py", file=sys.stderr)
        return 1 if problems else 0
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "openapi.json"
        spec_path.write_text(spec_text(current_spec()))
        generate_types(spec_path, Path(tmp) / "schema.ts")
        shutil.copyfile(spec_path, SPEC_FILE)
        shutil.copyfile(Path(tmp) / "schema.ts", TYPES_FILE)
    print(f"wrote {SPEC_FILE} and {TYPES_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
