"""What a gated asset does with its review: use it once it is finished, or, with `review: auto`, decide
unattended; otherwise refuse with the command that starts the review."""
from __future__ import annotations

from collections.abc import Callable

from animproc.errors import AnimprocError
from animproc.review.labels import Review


class NotReviewed(AnimprocError):
    """The film's review for a gate is missing or not finished, and the film does not review automatically."""


def decided_review(review: Review | None, mode: str, film: str, kind: str, auto: Callable[[], Review]) -> Review:
    """The finished review, else the unattended one (`auto()`) when the film's `review` mode is auto."""
    if review is not None and review.submitted:
        return review
    if mode != "auto":
        raise NotReviewed(f"the {kind} of film {film!r} are not reviewed yet: run "
                          f"`animproc review {kind} {film}` and finish the review")
    return auto()
