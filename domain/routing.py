"""Routing rules: which rule of a blended program matches a new case, and who watches it.

Pure: the owner itself is picked by services/routing.py, which reads the units and the team.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.case import Watcher
from domain.program import RoutingRuleIn
from domain.vocabulary import Access, FeedbackType, Priority


@dataclass
class Routing:
    owner_id: str
    watchers: list[Watcher] = field(default_factory=list)
    reason: str = ""
    rule_id: str | None = None


@dataclass
class RoutingRequest:
    channel: str
    feedback_type: str = FeedbackType.COMPLAINT
    category: str = ""
    priority: str = Priority.NORMAL


class RoutingError(ValueError):
    """Nobody can own the case: the program needs a default owner or an active team."""


def rule_matches(rule: RoutingRuleIn, req: RoutingRequest) -> bool:
    categories = {c.strip().lower() for c in rule.categories}
    return (
        (not rule.channels or req.channel in rule.channels)
        and (not rule.feedback_types or req.feedback_type in rule.feedback_types)
        and (not categories or req.category.strip().lower() in categories)
        and (not rule.priorities or req.priority in rule.priorities)
    )


def watchers_for(owner: str, candidates: list[tuple[str | None, Access]]) -> list[Watcher]:
    seen = {owner}
    out: list[Watcher] = []
    for uid, access in candidates:
        if uid and uid not in seen:
            seen.add(uid)
            out.append(Watcher(uid, access))
    return out
