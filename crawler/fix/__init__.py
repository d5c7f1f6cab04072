"""Fixing cards: the safe corrections of a run's problems, made as minimal edits of each card's
front matter (every other byte of the file stays as it was)."""
