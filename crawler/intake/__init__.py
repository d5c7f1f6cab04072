"""Intake: finding card files, reading front matter, validating a card, extracting its links."""
