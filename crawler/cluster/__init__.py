"""The crawl on many processes or machines, on Dask (`linkcheck run --workers N`, `--cluster`).

Nothing here is imported by a one-process run: `crawler.cli.run` imports `crawler.cluster.session`
only when one of those flags is given, and only that module and the worker's import Dask.
"""
