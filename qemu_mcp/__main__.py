from qemu_mcp.frontends.cli.entry import run

raise SystemExit(run())
