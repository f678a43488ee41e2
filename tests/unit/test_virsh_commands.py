"""argv builders: quoting for virsh's own parser (checked against real virsh), and input guards."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from qemu_mcp.backends.libvirt import virsh
from qemu_mcp.errors import InvalidInput
from qemu_mcp.host.probe import probe
from qemu_mcp.parsers.sections import new_marker

NASTY = [
    "plain",
    "with space",
    "semi;colon",
    "it's",
    'dq"x',
    "back\\slash",
    "$(touch /tmp/x)",
    "`id`",
    "a|b",
    "#hash",
]


def virsh_echo(words: list[str]) -> str:
    """What real virsh's command parser makes of our quoting (test driver: no daemon needed)."""
    script = "echo " + " ".join(virsh.quote(w) for w in words)
    out = subprocess.run(["virsh", "-c", "test:///default", script], capture_output=True, text=True, check=True)
    return out.stdout.rstrip("\n")


def test_quote_survives_virsh_parser() -> None:
    for word in NASTY:
        assert virsh_echo([word]) == word


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1, max_size=40))
def test_quote_round_trips_any_printable_text(word: str) -> None:
    # virsh's echo collapses nothing inside one quoted word, so the word comes back unchanged.
    # (A word starting with '-' is an option to echo; names like that are refused before quoting.)
    assume(not word.startswith("-"))
    assert virsh_echo([word]) == word


UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"


def test_batch_is_one_argument_with_markers() -> None:
    argv = virsh.virsh("qemu:///system", [["list", "--all"], ["net-info", "--network", "a;b"]], "@@m@@")
    assert argv[:5] == ["env", "LC_ALL=C", "virsh", "-c", "qemu:///system"]
    assert len(argv) == 6
    assert argv[5] == "list --all; echo @@m@@; net-info --network 'a;b'"


@pytest.mark.parametrize(
    "bad", ["-rf", "--domain", "a\nb", "x\x00y", "tab\there", "", "10", "web", UUID.upper(), UUID.replace("-", "")]
)
def test_domain_commands_take_only_a_canonical_uuid(bad: str) -> None:
    # virsh reads --domain as an id, then a UUID, then a name: a name or id never gets there.
    for build in (virsh.dumpxml, virsh.domstats, virsh.start, virsh.destroy, virsh.undefine, virsh.dominfo):
        with pytest.raises(InvalidInput):
            build(bad)
    assert virsh.destroy(UUID) == ["destroy", "--domain", UUID]
    assert virsh.dumpxml(virsh.UUID_SLOT)[-1] == virsh.UUID_SLOT


@pytest.mark.parametrize("uri", ["qemu:///system; rm -rf /", "-c", "qemu:///system\n", "nope"])
def test_bad_uri_rejected_before_any_command(uri: str) -> None:
    with pytest.raises(InvalidInput):
        virsh.virsh(uri, [["list"]])
    with pytest.raises(InvalidInput):
        probe(uri)


def test_markers_are_unique() -> None:
    assert len({new_marker() for _ in range(100)}) == 100
