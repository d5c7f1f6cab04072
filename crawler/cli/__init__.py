"""The `linkcheck` command. `main` (in app.py) is the entry point; parser.py makes the flags
(the settings' from the config's metadata), exits.py says what each exit code means, and one
module per subcommand runs it: run.py, report.py, history.py, prune.py, fix.py (demo is
crawler/demo.py)."""

from crawler.cli.app import main

__all__ = ["main"]
