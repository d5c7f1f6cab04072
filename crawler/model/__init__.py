"""The model: the problem vocabulary (kinds, severities, the failing statuses, fix hints:
crawler.model.kinds) and the plain values that flow one way, cards -> links -> url outcomes ->
card verdicts (crawler.model.values). Import them from here: `from crawler.model import Kind`.
"""

from crawler.model.kinds import (
    CARD_STATUSES,
    FAILING,
    FIX_HINTS,
    SEVERITY_OF,
    STATUS_LABELS,
    UNCHECKED,
    UNVERIFIED,
    Kind,
    Severity,
    worst,
)
from crawler.model.values import (
    CardRecord,
    Disposition,
    Finding,
    Hop,
    ImageInfo,
    Job,
    Link,
    LinkKind,
    Problem,
    UrlOutcome,
)

__all__ = [
    "CARD_STATUSES",
    "FAILING",
    "FIX_HINTS",
    "SEVERITY_OF",
    "STATUS_LABELS",
    "UNCHECKED",
    "UNVERIFIED",
    "CardRecord",
    "Disposition",
    "Finding",
    "Hop",
    "ImageInfo",
    "Job",
    "Kind",
    "Link",
    "LinkKind",
    "Problem",
    "Severity",
    "UrlOutcome",
    "worst",
]
