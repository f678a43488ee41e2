from __future__ import annotations

import pytest

from qemu_mcp.parsers.virsh_list import parse_name_lines, parse_virsh_list

TABLE = """\
 Id     Name                  State
---------------------------------------------
 1      web                   running
 12     db two                paused
 123    x   shut off          idle
 -       lead                 shut off
 -      my running            in shutdown
 -      p                     pmsuspended
 -      c                     crashed
 -      n                     no state

"""


def test_table() -> None:
    assert parse_virsh_list(TABLE) == [
        {"id": 1, "name": "web", "state": "running"},
        {"id": 12, "name": "db two", "state": "paused"},
        {"id": 123, "name": "x   shut off", "state": "idle"},
        {"id": None, "name": " lead", "state": "shut off"},
        {"id": None, "name": "my running", "state": "in shutdown"},
        {"id": None, "name": "p", "state": "pmsuspended"},
        {"id": None, "name": "c", "state": "crashed"},
        {"id": None, "name": "n", "state": "no state"},
    ]


def test_empty_table_and_empty_output() -> None:
    assert parse_virsh_list(" Id   Name   State\n--------------------\n\n") == []
    assert parse_virsh_list("") == []
    assert parse_virsh_list("\n") == []


def test_translated_table_falls_back_to_last_cell() -> None:
    text = " Id   Nom         État\n-----------------------\n 3    la vm       en cours\n"
    assert parse_virsh_list(text) == [{"id": 3, "name": "la vm", "state": "en cours"}]


@pytest.mark.parametrize("text", ["error: failed to connect\n", " Id Name State\n------\n 1 x\n"])
def test_not_a_table(text: str) -> None:
    with pytest.raises(ValueError):
        parse_virsh_list(text)


def test_name_lines() -> None:
    assert parse_name_lines('web\n lead\ntrail  \r\n\n\nit\'s; "x"\n\n') == [
        "web",
        " lead",
        "trail  ",
        'it\'s; "x"',
    ]
    assert parse_name_lines("\n") == []
