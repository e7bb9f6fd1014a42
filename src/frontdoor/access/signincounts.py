"""How sign-ins went, for the metrics endpoint to read: ``(provider, outcome, owner)`` -> count, where
the outcome is signin.Answer's (started, signed-in, signed-out, or a failure's name) and the owner the
Edge's platform team, which owns the sign-in paths. Kept for the whole process, as counters are."""

from __future__ import annotations

from collections import Counter

SIGNINS: Counter[tuple[str, str, str]] = Counter()


def count(provider: str, outcome: str, owner: str) -> None:
    SIGNINS[provider, outcome, owner] += 1


def snapshot() -> dict[tuple[str, str, str], int]:
    return dict(SIGNINS)
