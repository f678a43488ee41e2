"""qemu-mcp: agentless MCP server and CLI for QEMU/KVM hosts reached locally or over SSH."""

__version__ = "0.1.0"
