from qemu_mcp.cli import main

raise SystemExit(main())
