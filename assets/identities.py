"""Character identities, partitioned by film: faces -> identity_clusters -> (review gate: identity_review)
-> characters -> pose_subclusters."""
from collections import Counter
from functools import partial

import cv2
import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, AssetSpec, MetadataValue

from animproc.identity.carry import carry_identities, source_counts
from animproc.identity.cluster import NOISE
from animproc.identity.stages import (cluster_identities, detect_faces, face_frames, gather_characters,
                                      interval_frames, pose_buckets, suggest_names, write_identities)
from animproc.identity.sheets import Sheet, character_sheet, cluster_name, medoid_sheet
from animproc.identity.tracks import costume_histogram
from animproc.image.faces import stored_detections
from animproc.image.plots import face_projection
from animproc.image.preview import contact_sheet, encode_image, markdown_image, on_checkerboard, read_image
from animproc.review.gate import decided_review
from animproc.review.labels import auto_identity_review, character_folder, write_auto_review
from assets import film_asset, film_step
from partitions import film_partitions
from resources.face_analyzer import FaceAnalyzerResource
from resources.film_config import FilmConfigResource
from resources.storage import StorageResource

GROUP = "identities"


def _preview(sheet: Sheet, alt: str, empty: str) -> MetadataValue:
    """A core preview sheet as a small inline JPEG (`empty` when it labels nothing)."""
    return MetadataValue.md(markdown_image(sheet.jpeg(), alt=alt) if sheet.captions else empty)


def _sheet(images: list, labels: list[str] | None, alt: str, empty: str, **kwargs) -> MetadataValue:
    if not images:
        return MetadataValue.md(empty)
    return MetadataValue.md(markdown_image(encode_image(contact_sheet(images, labels, **kwargs)), alt=alt))


@film_asset(code_version="2", group_name=GROUP, kinds={"parquet", "jpeg"},
            deps=["frames_processed", "instances_inpainted", "shots", "source_video", "instances"],
            description="Every face in the kept frames and in a frame every `face_interval_seconds`: box, 5 "
                        "landmarks, detection score, aligned 112x112 crop, L2-normalised embedding, size and "
                        "sharpness, and the reviewed character instance it belongs to (none when no kept instance "
                        "holds it). Faces too small or blurred stay in the table with the reason, are left out "
                        "of clustering and are not embedded. On the kept frames the faces `instances` found are "
                        "reused (detected again only where another detector found them).")
def faces(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
          face_analyzer: FaceAnalyzerResource):
    with film_step(context, storage, film_config) as step:
        c, products = step.config.identities, step.products
        analyzer = face_analyzer.model(step.config)
        frames = products.table("frames_processed")
        frames = frames[frames["kept"]]
        kept, shots = products.table("instances_inpainted"), products.table("shots", "shots")
        searched = stored_detections(products.optional_table("instances", "face_detections"), analyzer.detector)
        kept_frames = set(frames["frame_index"].astype(int))
        stored = {i: found for i, found in searched.items() if i in kept_frames}
        with products.publish("faces") as out:
            images = face_frames(products, frames, shots, c.face_interval_seconds)
            total = len(frames) + len(interval_frames(products, frames, shots, c.face_interval_seconds)[0])
            table = detect_faces(images, kept, analyzer, step.config, out, step.progress, total, stored)
            out.table("faces", table)
            usable = table[table["excluded"].isna()]
            crops = [read_image(out.staged(p)) for p in usable["crop_path"][:36]]
        return step.result({
            "faces": len(table), "usable": len(usable), "analyzer": analyzer.name,
            "in_kept_instances": int(table["instance_id"].notna().sum()),
            "excluded": MetadataValue.json(dict(Counter(r.split(" (")[0] for r in table["excluded"].dropna()))),
            "frames": int(table["frame_index"].nunique()) if len(table) else 0, "kept_frames": len(frames),
            "frames_with_reused_detections": len(stored),
            "embedded": int(table["embedding"].notna().sum()),
            "face_interval_seconds": c.face_interval_seconds, "seconds": step.seconds(),
            "crops": _sheet(crops, None, "faces", "no faces", thumb_width=72, columns=12)})


@film_asset(code_version="2", group_name=GROUP, deps=["faces", "instances_inpainted"], kinds={"parquet", "jpeg"},
            description="Faces grouped into identities: faces linked into tracks within shots, HDBSCAN on one point "
                        "per track (its mean embedding, optionally joined with its instances' costume colours; min "
                        "cluster size from the film config), noise kept as its own bucket; every kept instance "
                        "assigned through its face. Per cluster: size, medoid, contact sheet, intra-cluster "
                        "similarity, suggested name.")
def identity_clusters(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource,
                      face_analyzer: FaceAnalyzerResource):
    with film_step(context, storage, film_config) as step:
        config, products, film = step.config, step.products, step.film
        names = partial(suggest_names, config, step.config_path,
                        lambda: face_analyzer.model(config))
        ids = cluster_identities(products.table("faces"), products.table("instances_inpainted"), products, config,
                                 names, step.progress)
        with products.publish("identity_clusters") as out:
            write_identities(ids, products, out, step.progress)
        labels = ids.faces["cluster"].astype(int)
        review_version = (write_auto_review(step.storage, auto_identity_review(film, dict(zip(ids.faces["face_id"],
                                                                                               labels))))
                          if config.review == "auto" else None)
        names = {c: cluster_name(c, ids.names) for c in ids.result.clusters}
        plot, method = face_projection(ids.vectors, ids.result.labels, names) if len(ids.faces) else (None, None)
        return step.result({
            "clusters": len(ids.result.clusters), "faces": len(ids.faces),
            "noise": int((ids.result.labels == NOISE).sum()), "tracks": int(len(np.unique(ids.faces["track_id"]))),
            "min_cluster_size": config.identities.min_cluster_size,
            "instances_assigned": int((ids.instances["cluster"] != NOISE).sum()), "instances": len(ids.instances),
            "sizes": MetadataValue.json({str(e["cluster"]): e["size"] for e in ids.summary}),
            "suggested_names": MetadataValue.json({str(k): v for k, v in ids.names.items()}),
            "medoids": _preview(medoid_sheet(ids.medoids), "medoids", "no clusters"),
            "projection": MetadataValue.md(markdown_image(plot, "image/png", method) if plot else "no faces"),
            "review": config.review if review_version is None else f"auto (review version {review_version})",
            "seconds": step.seconds()})


identity_review = AssetSpec(
    "identity_review", partitions_def=film_partitions, group_name=GROUP, code_version="1", deps=["identity_clusters"],
    description="The person's (or auto mode's) naming, merging, splitting and moving of a film's identity "
                "clusters: `{root}/{film}/reviews/identities.json`, written by `animproc review identities NAME`.")


@film_asset(code_version="1", group_name=GROUP, deps=["identity_clusters", "identity_review", "instances_inpainted", "faces"],
            kinds={"parquet", "png"},
            description="One folder per named character with its instances (RGBA) and face crops, and a Parquet "
                        "index with the review decision that put each there. Noise and clusters marked "
                        "not-a-character are left out; an instance goes to the character most of its faces belong "
                        "to.")
def characters(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource):
    with film_step(context, storage, film_config) as step:
        film, products = step.film, step.products
        faces = products.table("identity_clusters", "faces")
        review = decided_review(products.review("identities"), step.config.review, film, "identities",
                                lambda: auto_identity_review(film, dict(zip(faces["face_id"],
                                                                            faces["cluster"].astype(int)))))
        with products.publish("characters") as out:
            index, left_out = gather_characters(faces, review, products.table("instances_inpainted"), out,
                                                step.progress)
            sheet = character_sheet(index, lambda p: read_image(out.staged(p), cv2.IMREAD_UNCHANGED))
        per = index.groupby(["character", "kind"]).size().unstack(fill_value=0) if len(index) else pd.DataFrame()
        return step.result({
            "characters": int(index["character"].nunique()) if len(index) else 0,
            "per_character": MetadataValue.json({c: {k: int(v) for k, v in row.items()} for c, row in per.iterrows()}),
            "review_version": review.version, "decided_by": review.decided_by, "left_out_faces": left_out,
            "sheet": _preview(sheet, "characters", "no characters")})


@film_asset(code_version="1", group_name=GROUP, deps=["characters", "identity_clusters"], kinds={"parquet", "jpeg"},
            description="Per character: each instance's viewing angle (front / three-quarter / profile from the "
                        "face landmarks; back or unknown without a face), sub-clusters inside each bucket (UMAP + "
                        "HDBSCAN on silhouette and costume), bucket counts, a balanced sample of the configured "
                        "size, and a contact sheet per bucket.")
def pose_subclusters(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource):
    with film_step(context, storage, film_config) as step:
        products = step.products
        with products.publish("pose_subclusters") as out:
            table, summary, sheet = pose_buckets(products.table("characters"),
                                                 products.table("identity_clusters", "faces"), products, out,
                                                 step.config, step.progress)
        return step.result({
            "characters": len(summary), "instances": len(table), "sample_size": step.config.poses.sample_size,
            "buckets": MetadataValue.json({n: s["buckets"] for n, s in summary.items()}),
            "sheet": _preview(sheet, "pose buckets", "no characters")})


@film_asset(code_version="1", group_name=GROUP,
            deps=["characters", "motion", "identity_review", "identity_clusters", "instances_inpainted"],
            kinds={"parquet", "png"},
            description="Every kept instance with its character, confidence and how it got its name (name_source): "
                        "face (its faces' character), track (the character its motion track's named instances "
                        "carry: backs, profiles, hidden faces), person (its costume colours clearly like one "
                        "character of its shot), reviewer (assigned on the identity review page) or none.")
def character_instances(context: AssetExecutionContext, storage: StorageResource, film_config: FilmConfigResource):
    with film_step(context, storage, film_config) as step:
        film, products, c = step.film, step.products, step.config.identities
        faces = products.table("identity_clusters", "faces")
        review = decided_review(products.review("identities"), step.config.review, film, "identities",
                                lambda: auto_identity_review(film, dict(zip(faces["face_id"],
                                                                            faces["cluster"].astype(int)))))
        names = {k: character_folder(k, v) for k, v in review.decisions["clusters"].items()
                 if v.get("character", True)}
        costume = None if c.carry_costume_similarity is None else (
            lambda p: costume_histogram(read_image(products.resolve(p), cv2.IMREAD_UNCHANGED)))
        table = carry_identities(products.table("instances_inpainted"), products.table("characters"), faces,
                                 products.table("motion", "tracks"), names, review.decisions.get("instances", {}),
                                 costume, film, c.carry_costume_similarity or 1.0, c.carry_costume_margin,
                                 step.progress)
        with products.publish("character_instances") as out:
            out.table("instances", table)
        carried = table[table["name_source"].isin(["track", "person", "reviewer"]) & table["character"].notna()]
        thumbs = [on_checkerboard(read_image(products.resolve(p), cv2.IMREAD_UNCHANGED))
                  for p in carried["cutout_path"][:24]]
        labels = [f"{ch} ({src})" for ch, src in zip(carried["character"][:24], carried["name_source"][:24])]
        return step.result({
            "instances": len(table), "named": int(table["character"].notna().sum()),
            "named_by_face": int((table["name_source"] == "face").sum()),
            "name_sources": MetadataValue.json(source_counts(table)),
            "per_character": MetadataValue.json({str(k): int(v) for k, v in
                                                 table["character"].value_counts().items()}),
            "review_version": review.version, "seconds": step.seconds(),
            "carried": _sheet(thumbs, labels, "carried", "no instance named by track, costume or reviewer",
                              thumb_width=96)})
