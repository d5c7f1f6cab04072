"""The conductor's parts (crawler/crawl.py runs them in order): opening a run and its counters,
the feed of cards into jobs, and the phases after the last fetch."""
