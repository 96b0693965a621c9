"""The product catalogue: for every product a film has (one per asset), its files and its tables' columns, and
the one way to read and write them in a `Storage`.

A product lives in `{root}/{film}/{product}/`; paths stored in tables are relative to the root and start with
`{film}/{product}/`. Readers record every product they open (tables, files, paths from tables, the source media,
review files), so the products an asset really read can be compared with the inputs it declares; a reader made
with `declared` refuses anything else. Writers check each table against its schema, so the schema shown for a
product is the one on disk.
"""
from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from upath import UPath

from animproc.library import source_path
from animproc.review.labels import Review, load_review
from animproc.storage import Storage


@dataclass(frozen=True)
class Table:
    file: str
    columns: tuple[tuple[str, str], ...]  # (name, type): string, int, float, bool, json (JSON text), list<float>
    open: bool = False  # further columns may follow the listed ones (per-film or per-model measurements)

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.columns]


@dataclass(frozen=True)
class Product:
    name: str
    tables: dict[str, Table] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # JSON documents and blobs: key -> file in the folder
    review: str | None = None  # a review gate: the kind of review file it stands for
    source: bool = False  # the film's registered source media


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    return tuple(tuple(item.split(":")) for item in spec.split())


def _table(file: str, spec: str, open: bool = False) -> Table:
    return Table(file, _cols(spec), open)


_INSTANCE = ("instance_id:string film:string frame_index:int time:float shot_id:int frame_path:string "
             "cutout_path:string overlay_path:string instance_index:int bbox_x:int bbox_y:int bbox_w:int bbox_h:int "
             "area:int mask_rle:string mask_height:int mask_width:int segment_score:float source:string "
             "category:string category_score:float face_score:float evidence:json")
_REVIEWED = " review_keep:bool category_reviewed:string decided_by:string kept:bool source_cutout_path:string"
_FACE = ("face_id:string film:string frame_index:int time:float shot_id:int instance_id:string x0:float y0:float "
         "x1:float y1:float landmarks:list<float> score:float size:float sharpness:float excluded:string "
         "crop_path:string")
_FRAME = "film:string frame_index:int time:float shot_id:int sharpness_preview:float reason:string width:int height:int"

PRODUCTS: dict[str, Product] = {p.name: p for p in [
    Product("source_video", files={"probe": "probe.json"}, source=True),
    Product("shots", tables={
        "shots": _table("shots.parquet", "film:string shot_id:int start_frame:int end_frame:int start_time:float "
                                         "end_time:float"),
        "transitions": _table("transitions.parquet", "kind:string first:int last:int boundary:float score:float")}),
    Product("frames", tables={"manifest": _table("manifest.parquet", f"{_FRAME} path:string")}),
    Product("frames_processed", tables={"manifest": _table(
        "manifest.parquet", f"{_FRAME} sharpness:float blur:float brightness:float contrast:float phash:string "
                            "dhash:string kept:bool drop_reason:string duplicate_of:int source_path:string "
                            "path:string", open=True)}),
    Product("instances", tables={"instances": _table("instances.parquet", _INSTANCE),
                                 "face_detections": _table("face_detections.parquet",
                                                           "frame_index:int detector:string faces:json")}),
    Product("instance_review", review="instances"),
    Product("instances_filtered", tables={"instances": _table("instances.parquet", _INSTANCE + _REVIEWED)},
            files={"decisions": "decisions.json"}),
    Product("instances_inpainted", tables={"instances": _table(
        "instances.parquet", _INSTANCE + _REVIEWED + " filtered_cutout_path:string occlusion_ratio:float "
                                                     "fill_method:string filled_pixels:int")}),
    Product("faces", tables={"faces": _table("faces.parquet", _FACE + " embedding:list<float>")}),
    Product("identity_clusters", tables={
        "faces": _table("faces.parquet", _FACE + " track_id:int cluster:int probability:float"),
        "instances": _table("instances.parquet", "instance_id:string cluster:int")},
        files={"clusters": "clusters.json"}),
    Product("identity_review", review="identities"),
    Product("voice_review", review="identities"),  # its `voices` decisions, versioned apart (character_voices reads)
    Product("characters", tables={"index": _table(
        "index.parquet", "character:string kind:string id:string cluster:string path:string decision:string")}),
    Product("character_instances", tables={"instances": _table(
        "instances.parquet", "instance_id:string film:string frame_index:int shot_id:int character:string "
                             "cluster:string confidence:float name_source:string evidence:string "
                             "cutout_path:string")}),
    Product("pose_subclusters", tables={"poses": _table(
        "poses.parquet", "character:string instance_id:string bucket:string yaw_ratio:float subcluster:int "
                         "in_sample:bool path:string")}, files={"summary": "summary.json"}),
    Product("shot_structure", tables={"shot_structure": _table(
        "shot_structure.parquet", "film:string shot_id:int start_frame:int end_frame:int start_time:float "
                                  "end_time:float duration:float scale:string scale_confidence:float "
                                  "scale_evidence:json camera:string camera_confidence:float camera_evidence:json "
                                  "scene_id:int act_id:int")}, files={"scenes": "scenes.json"}),
    Product("motion", tables={
        "shot_motion": _table("shot_motion.parquet", "film:string shot_id:int flow_pairs:int motion_energy:float "
                                                     "camera_motion:float subject_motion:float camera_share:float "
                                                     "dominant_direction:string flow_backend:string"),
        "frame_flow": _table("frame_flow.parquet", "film:string shot_id:int frame_index:int time:float "
                                                   "interval:float magnitude:float camera_magnitude:float "
                                                   "residual_magnitude:float"),
        "tracks": _table("tracks.parquet", "film:string track_id:string shot_id:int label:string source:string "
                                           "start_frame:int end_frame:int start_time:float end_time:float "
                                           "duration:float observed:int samples:int speed:float path:json "
                                           "instance_ids:json"),
        "actions": _table("actions.parquet", "film:string track_id:string shot_id:int label:string start_time:float "
                                             "end_time:float action:string confidence:float method:string "
                                             "evidence:json"),
        "poses": _table("poses.parquet", "film:string track_id:string shot_id:int frame_index:int time:float "
                                         "layout:string keypoints:json coco17:json")},
        files={"pose_status": "pose_status.json"}),
    Product("effects_catalog", tables={
        "effects": _table("effects.parquet", "film:string type:string category:string shot_id:int start_frame:int "
                                             "end_frame:int start_time:float end_time:float intensity:float "
                                             "peak:float peak_frame:int samples:int track_id:string detail:string "
                                             "confirmation:float"),
        "signals": _table("signals.parquet", "frame_index:int time:float shot_id:int", open=True),
        "tagged_frames": _table("tagged_frames.parquet", "frame_index:int time:float shot_id:int effects:json")}),
    Product("audio", files={"info": "audio.json", "analysis": "analysis_16k.wav", "full": "audio.flac"}),
    Product("vocals", files={"info": "vocals.json", "vocals": "vocals.flac", "accompaniment": "accompaniment.flac"}),
    Product("diarization", tables={"segments": _table(
        "segments.parquet", "film:string start:float end:float speaker:string confidence:float overlap:bool")},
        files={"rttm": "{film}.rttm"}),
    Product("voice_features", tables={"voice_features": _table(
        "voice_features.parquet", "film:string speaker:string", open=True)}),
    Product("captions", tables={"captions": _table(
        "captions.parquet", "character:string instance_id:string path:string caption:string method:string "
                            "tokens:int within_range:bool truncated:bool token_counter:string bucket:string "
                            "shot_scale:string camera:string action:string effects:json")},
        files={"summary": "summary.json"}),
    Product("lora_dataset", tables={"images": _table(
        "images.parquet", "character:string instance_id:string file:string caption:string tokens:int bucket:string "
                          "subcluster:int sharpness:float face_size:float quality:float source_path:string")},
        files={"summary": "summary.json", "dataset": "dataset.toml", "training": "training.toml",
               "metadata": "metadata.jsonl"}),
    Product("lora_evaluation", tables={"scores": _table(
        "scores.parquet", "character:string checkpoint:string prompt:string seed:int image:string faces:int "
                          "identity:float clip_score:float sharpness:float corrupt:bool")},
        files={"summary": "summary.json"}),
    Product("active_speakers", tables={
        "scores": _table("scores.parquet", "track_id:int t:float score:float shot_id:int character:string "
                                           "motion_track:string x0:float y0:float x1:float y1:float mouth:float "
                                           "loudness:float", open=True),
        "turns": _table("turns.parquet", "turn_id:int start:float end:float speaker:string best_track:int "
                                         "character:string score:float margin:float off_screen:bool")},
        files={"info": "info.json"}),
    Product("character_voices", tables={
        "mapping": _table("mapping.parquet", "speaker:string character:string confidence:float reason:string"),
        "turns": _table("turns.parquet", "turn_id:int start:float end:float speaker:string character:string "
                                         "confidence:float source:string"),
        "clips": _table("clips.parquet", "character:string turn_id:int start:float end:float path:string "
                                         "source:string", open=True)},
        files={"info": "info.json"}),
    Product("av_sync", tables={
        "beats": _table("beats.parquet", "t:float"),
        "cuts": _table("cuts.parquet", "shot_index:int t:float nearest_beat_offset:float on_beat:bool"),
        "events": _table("events.parquet", "t:float kind:string offset:float"),
        "summary": _table("summary.parquet", "share_on_beat:float share_by_chance:float av_offset_seconds:float "
                                             "av_offset_confidence:float")},
        files={"info": "info.json"}),
]}


# issue 14 products: the film timeline and the training datasets (animproc.timeline, animproc.datasets)
_DATASET_INDEX = "row_id:string split:string film:string group:string"
DATASETS = ("dataset_character_multimodal", "dataset_scene_understanding", "dataset_action_recognition",
            "dataset_emotion_analysis")
PRODUCTS.update({p.name: p for p in [
    Product("film_timeline", tables={
        "shots": _table("shots.parquet", "film:string shot_id:int start_time:float end_time:float duration:float "
                                         "scene_id:int act_id:int scale:string camera:string on_screen:json "
                                         "face_boxes:json speakers:json voices:json speech_seconds:float "
                                         "effects:json actions:json beats:int cut_on_beat:bool loudness_db:float "
                                         "vocals_db:float"),
        "slices": _table("slices.parquet", "film:string slice:int start:float end:float shot_id:int scene_id:int "
                                           "on_screen:json speaker:string voice:string effects:json actions:json "
                                           "beat:bool loudness_db:float vocals_db:float")},
        files={"summary": "summary.json", "image": "timeline.png"}),
    *[Product(name, tables={"index": _table("index.parquet", _DATASET_INDEX, open=True)},
              files={"card": "README.md", "splits": "splits.json"}) for name in DATASETS],
    Product("datasets_all_films", tables={"index": _table("index.parquet", "dataset:string " + _DATASET_INDEX,
                                                          open=True)},
            files={"films": "films.json", "card": "README.md"}),
]})
ALL_FILMS = "_all_films"  # the storage folder of products over every film (no film key starts with "_")


class UndeclaredRead(LookupError):
    """An asset opened a product it does not declare as an input: the asset graph would not show it."""


class SchemaMismatch(ValueError):
    """A table written with other columns than its catalogue entry lists."""


def product(name: str) -> Product:
    if name not in PRODUCTS:
        raise KeyError(f"{name!r} is not a product in the catalogue")
    return PRODUCTS[name]


def _table_of(name: str, table: str | None) -> Table:
    tables = product(name).tables
    if table is None:
        if len(tables) != 1:
            raise KeyError(f"product {name!r} has tables {sorted(tables)}: name one")
        return next(iter(tables.values()))
    return tables[table]


class FilmProducts:
    """A film's products in one storage, read through the catalogue. `reads` holds every product opened or
    looked for, `missing` the optional ones that were absent. `own`: the products being written, which are no
    input (source_video opens the source media it stands for)."""

    def __init__(self, storage: Storage, film: str, declared: Collection[str] | None = None,
                 own: Collection[str] = ()):
        self.storage, self.film = storage, film
        self.declared = set(declared) if declared is not None else None
        self.own = set(own)
        self.reads: set[str] = set()
        self.missing: set[str] = set()

    def _open(self, name: str) -> Product:
        p = product(name)
        if name in self.own:
            return p
        if self.declared is not None and name not in self.declared:
            raise UndeclaredRead(f"reads product {name!r} of film {self.film!r} without declaring it "
                                 f"(declared: {', '.join(sorted(self.declared)) or 'none'})")
        self.reads.add(name)
        return p

    def folder(self, name: str) -> UPath:
        return self.storage.asset_dir(self.film, name)

    def _file(self, name: str, key: str) -> UPath:
        return self.folder(name) / product(name).files[key].format(film=self.film)

    def has(self, name: str, table: str | None = None) -> bool:
        """Whether an optional input exists (its table, or its first file); an absent one is recorded as missing."""
        p = self._open(name)
        path = (self.folder(name) / _table_of(name, table).file if p.tables
                else self._file(name, next(iter(p.files))))
        if not path.exists():
            self.missing.add(name)
            return False
        return True

    def table(self, name: str, table: str | None = None) -> pd.DataFrame:
        self._open(name)
        return self.storage.read_parquet(self.folder(name) / _table_of(name, table).file)

    def optional_table(self, name: str, table: str | None = None) -> pd.DataFrame | None:
        return self.table(name, table) if self.has(name, table) else None

    def json(self, name: str, key: str) -> dict:
        self._open(name)
        return json.loads(self._file(name, key).read_text())

    def file(self, name: str, key: str) -> UPath:
        """A blob of a product (audio, stems), to open with `Storage.local_copy`."""
        self._open(name)
        return self._file(name, key)

    def resolve(self, relative: str) -> UPath:
        """A path stored in a table (`{film}/{product}/...`): reading it reads that product."""
        parts = relative.split("/")
        if len(parts) < 3 or parts[0] != self.film:
            raise ValueError(f"{relative!r} is not a path inside a product of film {self.film!r}")
        self._open(parts[1])
        return self.storage.resolve(relative)

    def source_media(self) -> UPath:
        """The film's registered source media, which the source_video product stands for."""
        self._open(next(p.name for p in PRODUCTS.values() if p.source))
        return source_path(self.storage, self.film)

    def review(self, kind: str, part: str | None = None) -> Review | None:
        """The film's review file of `kind` (None before one is saved), read as its gate product, or as `part`,
        the product that stands for one part of its decisions (voice_review: the voices)."""
        self._open(part or next(p.name for p in PRODUCTS.values() if p.review == kind))
        return load_review(self.storage, self.film, kind)

    @contextmanager
    def publish(self, name: str) -> Iterator[ProductWriter]:
        """Write a product whole: visible only when the block succeeds (see `Storage.publish_dir`)."""
        product(name)
        with self.storage.publish_dir(self.film, name) as staging:
            yield ProductWriter(self, name, staging)


class ProductWriter:
    """Writes one product's files into its staging folder; paths it returns are the ones tables store."""

    def __init__(self, products: FilmProducts, name: str, staging: UPath):
        self.products, self.name, self.staging = products, name, staging
        self.storage, self.film = products.storage, products.film

    def relative(self, file: str) -> str:
        return f"{self.film}/{self.name}/{file}"

    def table(self, table: str | None, frame: pd.DataFrame) -> None:
        spec = _table_of(self.name, table)
        columns = list(frame.columns)
        missing = [c for c in spec.names if c not in columns]
        extra = [c for c in columns if c not in spec.names]
        if missing or (extra and not spec.open):
            raise SchemaMismatch(f"{self.name}/{spec.file}: columns differ from the catalogue "
                                 f"(missing {missing}, not listed {extra})")
        self.storage.write_parquet(self.staging / spec.file, frame)

    def json(self, key: str, data) -> None:
        self.storage.write_text(self.staging / product(self.name).files[key].format(film=self.film),
                                json.dumps(data, indent=1))

    def text(self, key: str, text: str) -> None:
        self.storage.write_text(self.staging / product(self.name).files[key].format(film=self.film), text)

    def upload(self, key: str, local: Path) -> None:
        self.storage.upload_file(local, self.staging / product(self.name).files[key].format(film=self.film))

    def blob(self, file: str, data: bytes) -> str:
        """A file under the product folder (images, clips); returns its stored path."""
        self.storage.write_bytes(self.staging / file, data)
        return self.relative(file)

    def copy(self, source: str, file: str) -> str:
        """Copy a stored file (`{film}/{product}/...`, which is read) into this product; returns the new path."""
        self.storage.copy(self.products.resolve(source), self.staging / file)
        return self.relative(file)

    def path(self, file: str) -> UPath:
        """Where a file of this product is being written (for libraries that write to a path)."""
        return self.staging / file

    def staged(self, stored: str) -> UPath:
        """Where a stored path of this product (`{film}/{product}/...`) lies while it is being written."""
        prefix = self.relative("")
        if not stored.startswith(prefix):
            raise ValueError(f"{stored!r} is not a path of product {self.name!r}")
        return self.staging / stored[len(prefix):]
