"""Pure checks on what a fetch brought back: no I/O, safe to run in a worker thread."""

from crawler.checks.image import dimension_problem, inspect_image
from crawler.checks.page import page_title

__all__ = ["dimension_problem", "inspect_image", "page_title"]
