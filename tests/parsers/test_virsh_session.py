"""parsers/virsh_session: the batch line, the cut of a transcript, back-to-back dumpxml documents.

The captured sessions themselves are checked in test_fixtures.py (virsh-session-*.txt); these
cases pin the rules the fixtures only show once, and the shapes virsh printed nowhere yet.
"""

from __future__ import annotations

import pytest

from qemu_mcp.parsers.virsh_session import (
    CommandOutput,
    Garbled,
    Markers,
    batch_input,
    command_output,
    parse_batch,
    xml_documents,
)

from .fixture_views import FIXTURES

M = Markers("qmcp-0a1b2c")
B, A, E = M.begin, M.after, M.end


def test_the_batch_is_two_lines_whose_echo_never_holds_a_printed_marker() -> None:
    text = batch_input(["list --all --uuid", "dumpxml 'x&lt;y'"], M)
    first, second, rest = text.split("\n")
    assert first == "echo --xml '<qmcp-0a1b2c-begin>'; list --all --uuid; echo --xml '<qmcp-0a1b2c>'; " \
        "dumpxml 'x&lt;y'; echo --xml '<qmcp-0a1b2c>'"  # fmt: skip
    assert second == "echo --xml '<qmcp-0a1b2c-end>'" and rest == ""
    assert not any(m in text for m in (B, A, E))  # virsh echoes the input: a printed marker must not be in it


@pytest.mark.parametrize("bad", [[], ["list\nquit"], ["list\r"]])
def test_a_batch_refuses_no_commands_and_line_breaks(bad: list[str]) -> None:
    with pytest.raises(ValueError):
        batch_input(bad, M)


@pytest.mark.parametrize("token", ["", "a b", "x'y", "<t>", "t;u"])
def test_marker_tokens_are_plain_words(token: str) -> None:
    with pytest.raises(ValueError):
        Markers(token)


def transcript(*sections: str, before: str = "virsh # line\n", after: str = "virsh # end line\n") -> str:
    return before + B + "".join(s + A for s in sections) + after + E + "virsh # "


def test_sections_are_cut_at_the_markers_wherever_they_are() -> None:
    batch = parse_batch(transcript("u1\nu2\n", "", "Domain: 'a'\n  state.state=1\n"), M, 3)
    assert batch.outputs == [
        CommandOutput("u1\nu2\n"), CommandOutput(""), CommandOutput("Domain: 'a'\n  state.state=1\n"),
    ]  # fmt: skip
    assert batch.stray == () and batch.errors == ()


def test_a_failed_command_keeps_its_error_lines_the_others_go_on() -> None:
    batch = parse_batch(transcript("error: failed to get domain 'x'\n", "1\n"), M, 2)
    assert batch.outputs is not None
    assert batch.outputs[0] == CommandOutput("", ("error: failed to get domain 'x'",))
    assert batch.outputs[1].ok and batch.errors == ("error: failed to get domain 'x'",)


def test_only_trailing_error_lines_are_errors() -> None:
    """A domain's description may hold a line that starts with `error:`: inside the output, it stays."""
    xml = "<domain>\n  <description>first\nerror: not virsh's\n  </description>\n</domain>\n"
    assert command_output(xml) == CommandOutput(xml)
    assert command_output(xml + "error: late\n\n") == CommandOutput(xml, ("error: late",))


def test_a_refused_line_has_no_outputs_and_says_why() -> None:
    text = "virsh # echo ...; list --bogus\nerror: command 'list' doesn't support option --bogus\nvirsh # e\n" + E
    batch = parse_batch(text, M, 2)
    assert batch.outputs is None and batch.refused == ("error: command 'list' doesn't support option --bogus",)


def test_errors_outside_every_command_are_stray() -> None:
    batch = parse_batch(transcript("x\n", before="error: Disconnected from qemu:///system due to end of file\n"), M, 1)
    assert batch.stray == ("error: Disconnected from qemu:///system due to end of file",)


@pytest.mark.parametrize(
    "text",
    [
        transcript("a", "b"),  # one marker too many for 1 command
        B + "a" + E,  # no command marker at all
        B + "a" + A,  # no end marker
    ],
)
def test_a_transcript_of_another_shape_is_garbled(text: str) -> None:
    with pytest.raises(Garbled):
        parse_batch(text, M, 1)


DOC_A = "<domain type='kvm'>\n  <name>a</name>\n</domain>\n"
DOC_B = "<domain type='kvm' id='3'>\n  <name>b</name>\n  <metadata>\n    <domain>x</domain>\n  </metadata>\n</domain>\n"


def test_back_to_back_documents_and_the_errors_between_them() -> None:
    text = "error: failed to get domain 'gone'\n" + DOC_A + DOC_B + "error: failed to get domain 'gone2'\n"
    docs, errors = xml_documents(text, "domain")
    assert docs == [DOC_A, DOC_B]  # an indented </domain> (in metadata) does not end a document
    assert errors == ["error: failed to get domain 'gone'", "error: failed to get domain 'gone2'"]
    assert xml_documents("", "domain") == ([], [])


@pytest.mark.parametrize("text", [DOC_A + "stray text\n", DOC_A[:-10], "<domainx>\n</domainx>\n"])
def test_anything_else_between_documents_is_garbled(text: str) -> None:
    with pytest.raises(Garbled):
        xml_documents(text, "domain")


def test_a_session_prints_what_one_virsh_process_prints_without_the_blank_line_after_each_command() -> None:
    """virsh -q (the session) drops the newline virsh prints after every command in a one-shot
    batch; everything else is the same text: the parsers read both."""
    d = FIXTURES / "debian-12"
    session = (d / "virsh-session-reads.test-default.txt").read_text()
    describe = session.split("&lt;qmcp-c0ffee-2-begin&gt;")[1].split("&lt;qmcp-c0ffee-2&gt;")[0]
    assert describe + "\n" == (d / "virsh-dumpxml-test.test-default.txt").read_text()
