"""The web: URLs, the address guard, politeness, the scheduler, fetching and the archive client."""
