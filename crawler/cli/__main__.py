"""`python -m crawler.cli`: the `linkcheck` command."""

from crawler.cli.app import main

raise SystemExit(main())
