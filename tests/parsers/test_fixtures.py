"""Every captured fixture, parsed now, equals its reviewed <what>.expected.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .expected import FIXTURES, expected_for, raw_fixtures, read_commands

DIRS = sorted(d for d in FIXTURES.iterdir() if d.is_dir())
CASES = [(d, name) for d in DIRS for name in raw_fixtures(d)]


def test_fixtures_exist() -> None:
    assert CASES, f"no captured fixtures under {FIXTURES}; run scripts/capture_fixtures.sh"


@pytest.mark.parametrize(("fixture_dir", "name"), CASES, ids=[f"{d.name}/{n}" for d, n in CASES])
def test_fixture_matches_expected(fixture_dir: Path, name: str) -> None:
    expected_file = fixture_dir / (name.removesuffix(".txt") + ".expected.json")
    assert expected_file.exists(), f"{expected_file.name} missing: re-run the capture and review it"
    # Round-trip through JSON so tuples/ints compare like the stored file.
    actual = json.loads(json.dumps(expected_for(fixture_dir, name)))
    assert actual == json.loads(expected_file.read_text())


@pytest.mark.parametrize("fixture_dir", DIRS, ids=[d.name for d in DIRS])
def test_every_raw_file_is_in_commands_txt(fixture_dir: Path) -> None:
    assert set(raw_fixtures(fixture_dir)) == set(read_commands(fixture_dir))


@pytest.mark.parametrize("fixture_dir", DIRS, ids=[d.name for d in DIRS])
def test_recorded_virsh_batch_behaviour(fixture_dir: Path) -> None:
    """What split_sections relies on, as recorded by the capture (re-checked per distro)."""
    commands = read_commands(fixture_dir)
    mid = json.loads((fixture_dir / "virsh-batch-midfail.test-default.expected.json").read_text())
    # A failure in the middle: empty section, the batch goes on, exit status 0.
    assert mid["exit_status"] == 0 and mid["sections"][1] == "" and mid["parsed"][2]["cpus"] > 0
    assert "error:" in (fixture_dir / "virsh-batch-midfail.test-default.stderr.txt").read_text()
    # The exit status is the last command's.
    assert commands["virsh-batch-lastfail.test-default.txt"][0] == 1
    # A parse error runs nothing.
    assert commands["virsh-batch-parse-error.test-default.txt"][0] == 1
    assert (fixture_dir / "virsh-batch-parse-error.test-default.txt").read_text() == ""
