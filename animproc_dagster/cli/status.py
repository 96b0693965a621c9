"""`animproc status FILM`: one table of every asset of a film (or `--json` for scripts)."""
from __future__ import annotations

import json

from animproc_dagster.cli.common import _fail, _instance

COLUMNS = [("asset", "asset"), ("materialised", "materialised"), ("state", "state"), ("last run", "last_run"),
           ("took", "duration_s"), ("now", "now"), ("detail", "detail")]


def _cell(row: dict, field: str) -> str:
    value = row[field]
    if field == "materialised":
        return "yes" if value else "no"
    if field == "state" and row["reason"]:
        return f"{value} ({row['reason']})"
    if field == "duration_s":
        return "" if value is None else f"{value:.1f} s"
    return "" if value is None else str(value)


def status_table(rows: list[dict]) -> str:
    """Plain columns, as wide as their widest cell."""
    cells = [[title for title, _ in COLUMNS]] + [[_cell(r, f) for _, f in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)


def cmd_status(args) -> int:
    from animproc_dagster.definitions import defs
    from animproc_dagster.status import film_status
    from partitions import films

    instance = _instance()
    if args.name not in films(instance):
        return _fail(f"no film named {args.name!r}; add it with `animproc film add {args.name} PATH`")
    rows = [r.to_dict() for r in film_status(instance, defs, args.name)]
    if args.json:
        print(json.dumps({"film": args.name, "assets": rows}, indent=2, allow_nan=False))
    else:
        print(status_table(rows))
    return 0
