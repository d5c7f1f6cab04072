"""Turn stored URL results into card verdicts (status + every problem), stored back."""

from __future__ import annotations

import json
from typing import Any

from crawler.store import Store
from crawler.verdicts import card_status, link_problems


def judge_cards(store: Store, run_id: int, *, batch: int = 1000) -> dict[str, int]:
    """Compute every stored card's verdict; returns how many links were left unchecked."""
    verdicts: list[tuple[str, str, str]] = []
    unchecked = 0
    for card, links in store.iter_cards_with_links(run_id):
        problems: list[dict[str, Any]] = list(json.loads(card["card_problems"]))
        for link in links:
            if link["url_status"] is None:
                unchecked += 1
            problems.extend(link_problems(dict(link)))
        status = card_status(card["disposition"], problems)
        verdicts.append((card["path"], status, json.dumps(problems)))
        if len(verdicts) >= batch:
            store.set_card_verdicts(run_id, verdicts)
            verdicts.clear()
    store.set_card_verdicts(run_id, verdicts)
    return {"links_unchecked": unchecked}
