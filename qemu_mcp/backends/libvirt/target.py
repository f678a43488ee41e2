"""Exact targeting. virsh reads a `--domain` argument as an id, then a UUID, then a name, so a
VM named "10" (or a user who types "10") would reach whichever VM has id 10. A user's name is
therefore resolved ON THE HOST by exact comparison with every domain's name, to that domain's
UUID, and the virsh commands address the UUID only; no user string ever reaches `--domain`.

`by_name` does the resolution and the commands in one round trip: a fixed sh script takes the
URI, the name and a virsh command string with UUID_SLOT where the UUID belongs ($1 $2 $3, never
part of the script), prints the UUID on the first line, then runs the commands with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from qemu_mcp import validation
from qemu_mcp.backends.libvirt import virsh

NOT_FOUND = "no domain has exactly this name"

BY_NAME_SCRIPT = r"""
uri=$1 name=$2 cmds=$3
all=$(virsh -c "$uri" list --all --uuid --name) || exit $?
u=$(printf '%s\n' "$all" | while IFS= read -r line; do
  case $line in *" "*) ;; *) continue ;; esac
  if [ "${line#* }" = "$name" ]; then printf '%s\n' "${line%% *}"; break; fi
done)
case $u in
  "") printf "error: failed to get domain '%s': NOT_FOUND\n" "$name" >&2; exit 1 ;;
  *[!0-9a-f-]*) echo "error: virsh list printed an unexpected UUID" >&2; exit 1 ;;
esac
echo "$u"
exec virsh -c "$uri" "$(printf '%s' "$cmds" | sed "s/SLOT/$u/g")"
""".replace("NOT_FOUND", NOT_FOUND).replace("SLOT", virsh.UUID_SLOT)


def by_name(uri: str, name: str, commands: Sequence[Sequence[str]], marker: str | None = None) -> list[str]:
    """argv: resolve `name` exactly, print its UUID, then run `commands` (built with UUID_SLOT)."""
    validation.libvirt_uri(uri)
    validation.vm_name(name)
    return ["sh", "-c", BY_NAME_SCRIPT, "qemu-mcp-target", uri, name, virsh.script(commands, marker)]


def not_found_line(name: str) -> str:
    """The error line BY_NAME_SCRIPT prints when no domain has exactly this name."""
    return f"error: failed to get domain '{name}': {NOT_FOUND}"


def split_uuid(stdout: str) -> tuple[str | None, str]:
    """(the resolved UUID or None, the commands' output) of a `by_name` run."""
    first, _, rest = stdout.partition("\n")
    if validation.CANONICAL_UUID.fullmatch(first):
        return first, rest
    return None, stdout
