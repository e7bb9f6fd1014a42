"""Traffic protection: rate limits (local or Redis), load shedding, circuit breaking, retry budgets.

``protection_stages`` gives the pipeline's rate-limit and protection stages for a Plan; docs/protection.md
says what they do for a client and an operator.
"""

from frontdoor.protection.stages import local_split_note, protection_stages

__all__ = ["local_split_note", "protection_stages"]
