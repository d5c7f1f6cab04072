"""Command-line flags declared where their settings are: a config field's metadata names its
flag (`flag(...)`), and the CLI generates `linkcheck run`'s flags from them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_FLAG = "flag"


@dataclass(frozen=True, slots=True)
class Flag:
    """A setting's command-line flag. `linkcheck run` offers every setting that has one; its
    type and default come from the field (a bool whose default is true gets a --no- flag)."""

    name: str  # --rate-per-host
    help: str
    metavar: str | None = None
    # repeatable: the values are parsed by this (ValueError: a one-line message) and added to
    # the setting's mapping from config.yaml, not put in its place
    append: Callable[[list[str]], dict[str, str]] | None = None

    @property
    def dest(self) -> str:
        return self.name.removeprefix("--").replace("-", "_")


def flag(
    name: str,
    help: str,
    *,
    metavar: str | None = None,
    append: Callable[[list[str]], dict[str, str]] | None = None,
) -> dict[str, Flag]:
    """A field's metadata: the setting's flag (field type and default give the rest)."""
    return {_FLAG: Flag(name, help, metavar, append)}


def flag_of(item: dataclasses.Field[Any]) -> Flag | None:
    """The flag a field's metadata declares, if any."""
    found: Flag | None = item.metadata.get(_FLAG)
    return found
