"""Shot scale and camera after a whole run, against the shots labelled by eye in
bench/reference/shot_structure_labels.json: each labelled clip is registered and run as a user runs a film
(`animproc film add` + `animproc run --select characters,motion,shot_structure`, `review: auto`, in a fresh
data root), so `shot_structure` runs after the identity gate with the `faces`, `instances_filtered` and
`characters` products, the case the issue found at 13 of 18. bench/structure_labels.py measures the other
case, `shot_structure` with only shots, source video and motion. The six clips take about 8 minutes on 2 cores
(measured: 7 min 58 s), a `--restructure` about 1.5.

`--work DIR` keeps the data root there; `--restructure` re-materialises only `shot_structure` in an existing
DIR with this checkout's code (its upstream products are kept), so a change to the scale rules is measured on
the same products.

    .venv/bin/python bench/structure_whole_run.py --work /tmp/structure-whole-run [--restructure]"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from structure_labels import LABELS, ROOT, SHARED, tally  # noqa: E402

SELECT = "characters,motion,shot_structure"


def film_name(clip: str) -> str:
    return Path(clip).parent.name.replace("_", "-")


def environment(work: Path) -> dict:
    home, data, configs = work / "home", work / "data", work / "configs"
    for d in (home, data, configs):
        d.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    return {**os.environ, "DAGSTER_HOME": str(home), "ANIMPROC_DATA": str(data), "ANIMPROC_CONFIG_DIR": str(configs),
            "PYTHONPATH": str(ROOT)}


def run_clip(clip: str, work: Path, select: str, register: bool) -> float:
    """Runs `select` of the clip's film; returns the wall seconds."""
    env, name = environment(work), film_name(clip)
    cli = [sys.executable, "-m", "animproc_dagster.cli"]
    if register:
        (work / "configs" / f"{name}.yaml").write_text("review: auto\n")
        subprocess.run([*cli, "film", "add", name, str(SHARED / clip), "--replace"], env=env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
    log = work / f"{name}.log"
    started = time.time()
    with open(log, "a") as out:
        rc = subprocess.run([*cli, "run", name, "--select", select], env=env, cwd=ROOT, stdout=out,
                            stderr=subprocess.STDOUT).returncode
    if rc != 0:
        sys.exit(f"animproc run {name} failed ({rc}); its log: {log}\n" + log.read_text()[-3000:])
    return time.time() - started


def structure_table(clip: str, work: Path) -> pd.DataFrame:
    path = work / "data" / film_name(clip) / "shot_structure" / "shot_structure.parquet"
    if not path.exists():
        sys.exit(f"no shot_structure product for {clip}: {path}")
    return pd.read_parquet(path)


def main() -> None:
    from animproc.temporal.evaluate import coarse_labels, structure_scores

    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True, help="the data root and Dagster instance, kept")
    parser.add_argument("--restructure", action="store_true",
                        help="re-materialise only shot_structure in an existing --work")
    args = parser.parse_args()
    labels = json.loads(LABELS.read_text())["clips"]
    totals: dict = {}
    print(f"{'clip':<34}{'split':>6}{'scale':>8}{'camera':>8}{'wall s':>8}  scale from")
    for clip, spec in labels.items():
        if not (SHARED / clip).exists():
            sys.exit(f"benchmark input missing: {SHARED / clip}")
        wall = run_clip(clip, args.work, "shot_structure" if args.restructure else SELECT, not args.restructure)
        table = structure_table(clip, args.work)
        scores = structure_scores(coarse_labels(table), spec["shots"])
        cells = tally(scores, totals, (spec["split"],))
        sources = Counter(json.loads(e).get("from", "face" if "face_height_ratio" in json.loads(e) else "other")
                          for e in table["scale_evidence"])
        print(f"{film_name(clip):<34}{spec['split']:>6}{cells[0]:>8}{cells[1]:>8}{wall:>8.0f}  {dict(sources)}")
        if "scale" in scores:
            print(f"    scale confusion: {scores['scale']['confusion']}")
    print()
    for split in ("dev", "check"):
        s, c = totals.get((split, "scale"), [0, 0]), totals.get((split, "camera"), [0, 0])
        print(f"{'all ' + split + ' clips':<34}{split:>6}{f'{s[0]}/{s[1]}':>8}{f'{c[0]}/{c[1]}':>8}")
    s, c = ([sum(v[i] for k, v in totals.items() if k[1] == attr) for i in (0, 1)] for attr in ("scale", "camera"))
    print(f"{'pooled':<34}{'':>6}{f'{s[0]}/{s[1]}':>8}{f'{c[0]}/{c[1]}':>8}")


if __name__ == "__main__":
    main()
