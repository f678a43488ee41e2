"""The official MCP conformance suite (npm @modelcontextprotocol/conformance, Node 22 from .tools/)
against a real `qemu-mcp serve --http` process. Expected failures (fixture tools/prompts/resources
of the suite's reference server, capabilities we do not declare) are listed with reasons in
conformance-baseline.yml; the suite itself fails the run on any other failure, and on a listed
scenario that starts to pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.test_http import start
from tests.integration.test_inspector import TOOLS_BIN

pytestmark = pytest.mark.integration
BASELINE = Path(__file__).with_name("conformance-baseline.yml")
# Generic protocol behaviour that must pass (no fixture tool, prompt or resource involved).
MUST_PASS = {
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
}


def test_conformance_suite_server_scenarios(tmp_path: Path) -> None:
    exe = TOOLS_BIN / "conformance"
    assert exe.exists(), "conformance suite missing: `bash scripts/quickstart.sh test` installs it into .tools/"
    config = tmp_path / "hosts.yaml"
    config.write_text("hosts: []\n")
    proc, port = start(config, log=tmp_path / "server.log")
    try:
        out = subprocess.run(
            [str(exe), "server", "--url", f"http://127.0.0.1:{port}/mcp", "--suite", "active",
             "--expected-failures", str(BASELINE), "-o", str(tmp_path / "results")],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PATH": f"{TOOLS_BIN}:{os.environ['PATH']}"},  # its Node 22 first
            cwd=tmp_path,
        )  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(10)
    report = out.stdout + out.stderr
    assert out.returncode == 0, report[-6000:]

    # Read the per-scenario checks: the generic scenarios really ran and passed, and everything
    # that failed is in the baseline.
    passed: set[str] = set()
    failed: set[str] = set()
    for checks in (tmp_path / "results").glob("server-*/checks.json"):
        m = re.fullmatch(r"server-(.+)-\d{4}-\d\d-\d\dT[\dZ-]+", checks.parent.name)
        assert m, checks.parent.name
        scenario = m[1]
        statuses = {c["status"] for c in json.loads(checks.read_text())}
        (failed if "FAILURE" in statuses else passed).add(scenario)
    expected = set(yaml.safe_load(BASELINE.read_text())["server"])
    assert passed >= MUST_PASS, f"not passed: {MUST_PASS - passed}\n{report[-4000:]}"
    assert failed <= expected, failed - expected
