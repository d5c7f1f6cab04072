"""What one card file may cost: whatever a hostile file holds, reading it is bounded by these.

The largest of 2,000 real cards is a 143 KB file (all front matter) of 5,195 YAML nodes, nested
6 deep: each budget leaves a wide margin above that.
"""

from __future__ import annotations

MAX_CARD_BYTES = 2 * 1024 * 1024  # a file is read up to this plus one byte, never whole
MAX_FRONT_MATTER_BYTES = 1024 * 1024
MAX_YAML_NODES = 50_000  # counted with every alias expanded: a 1 KB alias bomb is refused
MAX_YAML_DEPTH = 64  # nesting levels; the reader recurses on them
MAX_NUMBER_CHARS = 1_000  # a longer int or float is refused (its conversion is superlinear)
