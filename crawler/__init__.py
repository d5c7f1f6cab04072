"""linkcheck: link-health and media crawler for news cards."""

__version__ = "0.1.0"
