"""The one error tree of qemu-mcp.

    QemuMcpError                 every error we raise; str() is a sentence for a model or a person
    ├── ConfigError              hosts.yaml is missing a key, has a bad value, or cannot be read
    ├── InvalidInput             a name, size, path or option was refused before any command ran
    ├── NotFound                 a host, VM or file that the call named does not exist
    ├── Conflict                 the VM is in a state that forbids the action (running, exists, ...)
    ├── ConfirmationRequired     a dangerous action needs confirm=true or an accepted elicitation
    ├── PolicyDenied             a policy key refused the action (read_only, allowed_actions, ...)
    └── HostError                something went wrong talking to a host
        ├── HostUnreachable      TCP connect failed, DNS failed, the connection dropped or went silent
        ├── AuthFailed           the host refused our key or password
        ├── HostKeyRefused       the host key is unknown or changed (never accepted blindly)
        ├── CommandTimeout       a command ran longer than its timeout and was abandoned
        └── CommandFailed        a command ran and exited non-zero (carries exit status + stderr)

Transport code maps asyncssh and OS errors to this tree in one place:
`qemu_mcp.transport.errors.mapped_errors`.
"""

from __future__ import annotations


class QemuMcpError(Exception):
    """Base of every error qemu-mcp raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(QemuMcpError):
    pass


class InvalidInput(QemuMcpError):
    pass


class NotFound(QemuMcpError):
    pass


class Conflict(QemuMcpError):
    pass


class ConfirmationRequired(QemuMcpError):
    pass


class PolicyDenied(QemuMcpError):
    pass


class HostError(QemuMcpError):
    """Talking to a host failed. `host` names the inventory host."""

    def __init__(self, message: str, host: str = "") -> None:
        super().__init__(message)
        self.host = host


class HostUnreachable(HostError):
    """`silent`: the host did not answer at all within its connect_timeout (a connect, or
    keepalives on an open connection): trying again at once would only wait as long again."""

    def __init__(self, message: str, host: str = "", *, silent: bool = False) -> None:
        super().__init__(message, host)
        self.silent = silent


class AuthFailed(HostError):
    pass


class HostKeyRefused(HostError):
    pass


class CommandTimeout(HostError):
    pass


class CommandFailed(HostError):
    """A command ran and exited non-zero."""

    def __init__(
        self, message: str, host: str = "", exit_status: int | None = None, stderr: str = ""
    ) -> None:
        super().__init__(message, host)
        self.exit_status = exit_status
        self.stderr = stderr
