"""Run argv lists on hosts: locally (asyncio subprocess) or over SSH (asyncssh)."""

from qemu_mcp.transport.base import CommandResult, Runner

__all__ = ["CommandResult", "Runner"]
