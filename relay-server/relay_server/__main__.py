"""Allow `python -m relay_server`."""

from relay_server.cli import main

raise SystemExit(main())
