"""A generated corpus' ground truth: what a checker should say of each card, written next to the
cards as expected.json."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class CardTruth:
    status: str | None  # None for filtered (old) cards: they are not in the report
    behaviour: str
    kind: str | None
    filtered: bool
    field: str | None  # the card field whose URL carries the behaviour ("webUrl", "images[0].url")
    url: str | None
    host: str  # the host of the card's webUrl


@dataclass(slots=True)
class GroundTruth:
    run_settings: dict[str, Any]
    cards: dict[str, CardTruth]  # keyed by posix path relative to the cards folder
    unique_urls_by_host: dict[str, int] = field(default_factory=dict)  # checked cards only

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "by_behaviour": dict(sorted(Counter(c.behaviour for c in self.cards.values()).items())),
            "by_status": dict(
                sorted(Counter(c.status or "filtered" for c in self.cards.values()).items())
            ),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "run_settings": self.run_settings,
            "counts": self.counts(),
            "unique_urls_by_host": self.unique_urls_by_host,
            "cards": {path: asdict(truth) for path, truth in self.cards.items()},
        }

    def write(self, path: Path) -> None:
        """Pretty-printed, but one line per card so that 100,000 cards stay small and greppable."""
        data = self.to_json()
        cards = data.pop("cards")
        head = json.dumps(data, indent=1)[:-2]  # drop the closing "\n}"
        lines = [
            f" {json.dumps(p)}: {json.dumps(c, separators=(',', ':'))}" for p, c in cards.items()
        ]
        body = ",\n".join(lines)
        path.write_text(f'{head},\n "cards": {{\n{body}\n }}\n}}\n', encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> GroundTruth:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            run_settings=dict(data["run_settings"]),
            cards={p: CardTruth(**c) for p, c in data["cards"].items()},
            unique_urls_by_host={k: int(v) for k, v in data.get("unique_urls_by_host", {}).items()},
        )
