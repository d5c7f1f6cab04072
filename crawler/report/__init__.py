"""Reports built from the store: JSON (and later HTML, CSV, JUnit)."""
