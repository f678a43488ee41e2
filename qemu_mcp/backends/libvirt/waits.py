"""Waiting for a domain's life-cycle, on the host, in one command each: libvirt's events instead of
a new SSH exec per poll. Fixed sh scripts; the URI, the domain's UUID and the seconds are $1 $2 $3.

- REBOOT: the `reboot` event listener is started BEFORE the reboot is asked for (a guest may
  reboot at once, and an event nobody listened for is gone). `virsh event` has no "ready" signal:
  a moment's head start (it registers within milliseconds) stands in for one.
- WAIT_STOPPED: until the domain is shut off (or gone), waking at each of its life-cycle events;
  an event that comes between a state check and the next listener is seen by the next check,
  at most POLL_CAP seconds later.
"""

from __future__ import annotations

from qemu_mcp import validation

HEAD_START = "0.5"  # seconds the reboot listener gets before the request
POLL_CAP = 5  # longest single wait for an event between two state checks

REBOOT_SCRIPT = r"""
uri=$1 u=$2 t=$3
virsh -c "$uri" event --domain "$u" --event reboot --timeout "$t" &
listener=$!
sleep HEAD_START
if ! virsh -c "$uri" reboot --domain "$u"; then kill "$listener" 2>/dev/null; exit 1; fi
wait "$listener"
exit 0
""".replace("HEAD_START", HEAD_START)

WAIT_STOPPED_SCRIPT = r"""
uri=$1 u=$2 t=$3
end=$(( $(date +%s) + t ))
while :; do
  if ! state=$(virsh -c "$uri" domstate --domain "$u" 2>&1); then
    case $state in *"failed to get domain"*) echo gone; exit 0 ;; esac
    printf '%s\n' "$state" >&2; exit 1
  fi
  case $state in "shut off"*|crashed*) echo stopped; exit 0 ;; esac
  left=$(( end - $(date +%s) ))
  [ "$left" -gt 0 ] || { echo timeout; exit 0; }
  [ "$left" -gt POLL_CAP ] && left=POLL_CAP
  virsh -c "$uri" event --domain "$u" --event lifecycle --timeout "$left" >/dev/null 2>&1
done
""".replace("POLL_CAP", str(POLL_CAP))


def _args(uri: str, uuid: str, seconds: int) -> list[str]:
    return [validation.libvirt_uri(uri), validation.domain_uuid(uuid), str(max(1, int(seconds)))]


def reboot_and_wait(uri: str, uuid: str, seconds: int) -> list[str]:
    """Prints "event 'reboot' for domain ..." once the guest rebooted within `seconds`."""
    return ["sh", "-c", REBOOT_SCRIPT, "qemu-mcp-reboot", *_args(uri, uuid, seconds)]


def wait_stopped(uri: str, uuid: str, seconds: int) -> list[str]:
    """Prints "stopped", "gone" or "timeout"."""
    return ["sh", "-c", WAIT_STOPPED_SCRIPT, "qemu-mcp-wait-stopped", *_args(uri, uuid, seconds)]
