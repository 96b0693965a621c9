"""`animproc`: register films, materialise their assets, export results, make the sample film."""
from __future__ import annotations

import argparse

from animproc_dagster.cli.cluster_images import cmd_cluster_images
from animproc_dagster.cli.common import _fail
from animproc_dagster.cli.evaluate import (cmd_eval_diarization, cmd_eval_identities, cmd_eval_separation,
                                           cmd_eval_shot_structure)
from animproc_dagster.cli.export import cmd_export_rttm, cmd_export_shots
from animproc_dagster.cli.films import cmd_film_add, cmd_film_list, cmd_film_remove
from animproc_dagster.cli.lora import add_export_lora
from animproc_dagster.cli.multimodal import register as register_multimodal
from animproc_dagster.cli.review import cmd_review
from animproc_dagster.cli.run import cmd_run
from animproc_dagster.cli.sample import cmd_sample_film
from animproc_dagster.cli.status import cmd_status


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="animproc", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    film = sub.add_parser("film", help="register, list and remove films").add_subparsers(dest="film_cmd", required=True)
    add = film.add_parser("add", help="probe a video, store it under the storage root and register the film")
    add.add_argument("name", help="film key: a lowercase slug such as 'my-film'")
    add.add_argument("path", help="mp4, mkv, mov or webm file")
    add.add_argument("--replace", action="store_true", help="store new media under an existing film")
    add.set_defaults(func=cmd_film_add)
    film.add_parser("list", help="registered films").set_defaults(func=cmd_film_list)
    rm = film.add_parser("remove", help="unregister a film (outputs are kept unless --purge)")
    rm.add_argument("name")
    rm.add_argument("--purge", action="store_true", help="also delete the film's stored media and outputs")
    rm.set_defaults(func=cmd_film_remove)
    run = sub.add_parser("run", help="materialise a film's assets, with progress")
    run.add_argument("name")
    run.add_argument("--select", help="comma-separated asset names; missing upstream assets are added")
    run.add_argument("--detach", action="store_true",
                     help="submit the run to the instance's run queue (as the UI does), print its id and return")
    run.add_argument("--workers", help="steps run at once, each in a process of its own, or `auto` for the usable "
                                       "cores (default: $ANIMPROC_WORKERS, else 1: one after another in this process)")
    run.set_defaults(func=cmd_run)
    status = sub.add_parser("status", help="every asset of a film: materialised, stale, last run, running, failed")
    status.add_argument("name")
    status.add_argument("--json", action="store_true", help="the same as JSON, for scripts")
    status.set_defaults(func=cmd_status)
    review = sub.add_parser("review", help="serve the local review page of a film's review gate")
    review.add_argument("kind", choices=["instances", "identities"], help="which gate")
    review.add_argument("name")
    review.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    review.add_argument("--port", type=int, default=8765)
    review.add_argument("--open", action="store_true", help="open the page in a browser")
    review.set_defaults(func=cmd_review)
    export = sub.add_parser("export", help="write results in interchange formats").add_subparsers(
        dest="export_cmd", required=True)
    shots = export.add_parser("shots", help="the shot list as CSV (PySceneDetect columns) or JSON")
    shots.add_argument("name")
    shots.add_argument("--format", choices=["csv", "json"], default="csv")
    shots.add_argument("--output", "-o", help="file to write (default: standard output)")
    shots.set_defaults(func=cmd_export_shots)
    rttm = export.add_parser("rttm", help="the film's diarization as RTTM")
    rttm.add_argument("name")
    rttm.add_argument("--output", "-o", help="file to write (default: standard output)")
    rttm.set_defaults(func=cmd_export_rttm)
    add_export_lora(export)
    register_multimodal(sub, export)
    evaluate = sub.add_parser("eval", help="compare results with a reference").add_subparsers(
        dest="eval_cmd", required=True)
    der = evaluate.add_parser("diarization", help="DER with its parts against a reference RTTM (pyannote.metrics)")
    der.add_argument("name")
    der.add_argument("--reference", required=True, help="reference RTTM file")
    der.add_argument("--collar", type=float, default=0.0, help="forgiveness collar around reference boundaries, s")
    der.set_defaults(func=cmd_eval_diarization)
    sep = evaluate.add_parser("separation", help="SI-SDR of a vocals estimate and its improvement over the mixture")
    sep.add_argument("--mixture", required=True, help="the mixture (any audio or video file)")
    sep.add_argument("--reference", required=True, help="the clean dialogue")
    sep.add_argument("--estimate", help="vocals to score (default: run the embedded separator on the mixture)")
    sep.set_defaults(func=cmd_eval_separation)
    ident = evaluate.add_parser("identities", help="purity, coverage, ARI and cluster count of identity clusters")
    ident.add_argument("name", nargs="?", help="a film (its identity_clusters asset)")
    ident.add_argument("--reference", required=True,
                       help="JSON mapping image or instance file names to identity labels, or a ground truth "
                            "listing the characters' face boxes per frame (`on_screen`, as the sample film's)")
    ident.add_argument("--assignment", help="an assignment JSON written by `animproc cluster-images` instead of a film")
    ident.set_defaults(func=cmd_eval_identities)
    struct = evaluate.add_parser("shot-structure", help="accuracy and confusion of shot scale and camera movement")
    struct.add_argument("name")
    struct.add_argument("--reference", required=True,
                        help='JSON {"shots": [{"start_frame", "end_frame", "scale", "camera"}, ...]}')
    struct.set_defaults(func=cmd_eval_shot_structure)
    clus = sub.add_parser("cluster-images", help="face analysis + identity clustering on a plain folder of images")
    clus.add_argument("folder")
    clus.add_argument("--output", help="assignment JSON (default FOLDER/identity_clusters.json)")
    clus.add_argument("--min-cluster-size", type=int, default=2)
    clus.add_argument("--min-samples", type=int)
    clus.add_argument("--selection-method", choices=["eom", "leaf"], default="eom")
    clus.add_argument("--reduce", type=int, default=32, help="PCA dimensions before HDBSCAN (0: none)")
    clus.add_argument("--epsilon", type=float, default=0.0, help="HDBSCAN cluster_selection_epsilon")
    clus.add_argument("--backend", choices=["embedded", "insightface"], help="face analyzer (default: environment)")
    clus.set_defaults(func=cmd_cluster_images)
    sample = sub.add_parser("sample-film", help="render the synthetic sample film with its ground truth")
    sample.add_argument("output", help="path of the mp4 to write")
    sample.set_defaults(func=cmd_sample_film)
    return p


def main(argv: list[str] | None = None) -> int:
    import warnings

    from animproc_dagster.cli.interrupts import restore_interrupts

    warnings.filterwarnings("ignore", module="dagster")
    restore_interrupts()
    args = build_parser().parse_args(argv)
    from animproc.errors import AnimprocError

    try:
        return args.func(args)
    except AnimprocError as exc:
        return _fail(str(exc))
