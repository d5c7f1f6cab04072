"""Judging: every problem kind is decided here, from what the web stage fetched."""
