"""Applying an instance review: every instance gets a final decision, its category after review, and who
decided it (a person, the auto mode, or its prediction when a finished review left it pending)."""
from __future__ import annotations

import pandas as pd

from animproc.review.labels import Review


def apply_instance_review(instances: pd.DataFrame, review: Review) -> tuple[pd.DataFrame, dict]:
    ids = set(instances["instance_id"])
    out = instances.copy()
    keep, category, decided_by = [], [], []
    for iid, predicted in zip(out["instance_id"], out["category"]):
        d = review.decisions.get(iid)
        if d is None:
            keep.append(predicted == "character")
            category.append(predicted)
            decided_by.append("prediction")
        else:
            keep.append(bool(d["keep"]))
            category.append(d.get("category") or predicted)
            decided_by.append(review.decided_by)
    out["review_keep"] = keep
    out["category_reviewed"] = category
    out["decided_by"] = decided_by
    out["kept"] = out["review_keep"] & (out["category_reviewed"] == "character")
    stale = sorted(set(review.decisions) - ids)
    stats = {
        "instances": len(out), "kept": int(out["kept"].sum()),
        "discarded": int((~out["review_keep"]).sum()),
        "kept_but_not_character": int((out["review_keep"] & (out["category_reviewed"] != "character")).sum()),
        "decided_by": out["decided_by"].value_counts().to_dict(),
        "recategorised": int((out["category_reviewed"] != out["category"]).sum()),
        "by_category": out["category_reviewed"].value_counts().to_dict(),
        "review_version": review.version, "review_saved_at": review.saved_at,
        "decisions_for_unknown_instances": len(stale),
    }
    return out, stats
