"""Every captured fixture, parsed now, equals its hand-checked <what>.expected.json.

The expected files are written and checked by a person against the raw text, never by the
parsers (see fixtures/*/REVIEWED.md). A mismatch is shown as a diff to be reviewed by hand.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from .fixture_views import FIXTURES, parse_fixture, raw_fixtures, read_commands

DIRS = sorted(d for d in FIXTURES.iterdir() if d.is_dir())
CASES = [(d, name) for d in DIRS for name in raw_fixtures(d)]
EXPECTED = ".expected.json"


def expected_path(fixture_dir: Path, name: str) -> Path:
    return fixture_dir / (name.removesuffix(".txt") + EXPECTED)


def pretty(value: object) -> list[str]:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True).splitlines()


def test_fixtures_exist() -> None:
    assert CASES, f"no captured fixtures under {FIXTURES}; run scripts/capture_fixtures.sh"


@pytest.mark.parametrize(("fixture_dir", "name"), CASES, ids=[f"{d.name}/{n}" for d, n in CASES])
def test_fixture_matches_expected(fixture_dir: Path, name: str) -> None:
    expected_file = expected_path(fixture_dir, name)
    assert expected_file.exists(), (
        f"{expected_file.name} is missing: write it by hand from {name} (what the parse must give), "
        "and list it in REVIEWED.md"
    )
    # Round-trip through JSON so tuples/ints compare like the stored file.
    actual = json.loads(json.dumps(parse_fixture(fixture_dir, name)))
    expected = json.loads(expected_file.read_text())
    if actual != expected:
        diff = "\n".join(
            difflib.unified_diff(pretty(expected), pretty(actual), expected_file.name, "parsed now", lineterm="")
        )
        pytest.fail(
            f"the parse of {name} differs from {expected_file.name}:\n{diff}\n"
            f"Review by hand: read {name} and decide which side is right. If the parser is wrong, fix the "
            f"parser; if the expected file is, correct it by hand and note the review in REVIEWED.md. "
            "Never copy the parser's output over the expected file.",
            pytrace=False,
        )


@pytest.mark.parametrize("fixture_dir", DIRS, ids=[d.name for d in DIRS])
def test_every_raw_file_is_indexed_and_every_expected_file_has_its_raw_file(fixture_dir: Path) -> None:
    raw = set(raw_fixtures(fixture_dir))
    assert raw == set(read_commands(fixture_dir))
    expected = {p.name.removesuffix(EXPECTED) + ".txt" for p in fixture_dir.glob("*" + EXPECTED)}
    assert expected <= raw, f"expected files without a raw capture: {sorted(expected - raw)}"


@pytest.mark.parametrize("fixture_dir", DIRS, ids=[d.name for d in DIRS])
def test_every_expected_file_is_listed_as_reviewed(fixture_dir: Path) -> None:
    reviewed = (fixture_dir / "REVIEWED.md").read_text()
    unlisted = [p.name for p in sorted(fixture_dir.glob("*" + EXPECTED)) if p.name not in reviewed]
    assert not unlisted, f"expected files nobody recorded a review of in REVIEWED.md: {unlisted}"


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
