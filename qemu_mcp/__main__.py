from qemu_mcp.frontends.cli.main import main

raise SystemExit(main())
