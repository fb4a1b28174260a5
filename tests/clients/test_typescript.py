"""The TypeScript client: strict type check, ESM build with declarations, its node tests against a real
`jobdeck serve`, and the drift check of the committed OpenAPI document and generated types.

Needs Node.js and npm; without them these tests call ``unavailable("Node")`` (skip, or fail in CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serve_process import ServeProcess, unavailable

from live_server import ADMIN_PASSWORD

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "typescript"


def npm(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["npm", *args], cwd=PACKAGE, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"npm {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def node_package() -> Path:
    """clients/typescript with its devDependencies installed (``npm ci`` when node_modules is missing or stale)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        unavailable("Node")
    installed = PACKAGE / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (PACKAGE / "package-lock.json").stat().st_mtime:
        npm("ci", "--no-audit", "--no-fund")
    return PACKAGE


def test_typescript_typechecks_in_strict_mode(node_package: Path) -> None:
    npm("run", "typecheck")


def test_typescript_builds_esm_with_declarations(node_package: Path) -> None:
    npm("run", "build")
    dist = node_package / "dist"
    assert (dist / "index.js").exists() and (dist / "index.d.ts").exists()
    check = "import('./dist/index.js').then(m => console.log(typeof m.createClient, typeof m.JobdeckApiError))"
    result = subprocess.run(["node", "-e", check], cwd=node_package, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["function", "function"], result.stderr


def test_the_package_has_no_runtime_dependencies(node_package: Path) -> None:
    import json

    manifest = json.loads((node_package / "package.json").read_text())
    assert "dependencies" not in manifest and manifest["type"] == "module"


def test_node_tests_against_a_live_server(node_package: Path, serve: ServeProcess) -> None:
    env = {
        **os.environ,
        "JOBDECK_URL": serve.url,
        "JOBDECK_ADMIN_TOKEN": serve.admin_token,
        "JOBDECK_VIEWER_TOKEN": serve.viewer_token,
        "JOBDECK_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    result = npm("test", env=env, timeout=300)
    counts = {}
    for line in result.stdout.splitlines():
        words = line.lstrip("#ℹ ").split()
        if len(words) == 2 and words[0] in {"tests", "pass", "fail", "skipped"} and words[1].isdigit():
            counts[words[0]] = int(words[1])
    assert counts.get("fail") == 0 and counts.get("pass", 0) >= 20, result.stdout[-4000:]


def test_committed_openapi_and_types_match_the_server(node_package: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(node_package / "scripts" / "openapi.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-6000:]
