"""Per-film settings: `configs/projects/{film}.yaml`, validated, with generic 3D-animation defaults."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError, model_validator

from animproc.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Character(_Strict):
    name: str = Field(min_length=1)
    reference_image: str | None = None


class ShotsConfig(_Strict):
    cut_threshold: float = Field(3.0, gt=1.0, description="ratio of a frame's change to its neighbours' for a cut")
    min_cut_score: float = Field(5.0, ge=0, description="smallest absolute change (0-255 scale) that can be a cut")
    min_shot_seconds: float = Field(0.4, ge=0)
    black_level: float = Field(22.0, ge=0, le=255, description="mean luma (limited range) below which a frame is black")
    fast_decode: bool = Field(True, description="skip deblocking of frames nothing refers to (H.264/HEVC; never written)")


class SamplingConfig(_Strict):
    mode: Literal["scene", "interval", "hybrid"] = "hybrid"
    frames_per_shot: int = Field(3, ge=1, le=50)
    interval_seconds: float = Field(2.0, gt=0)
    image_format: Literal["jpg", "png"] = "jpg"
    jpeg_quality: int = Field(95, ge=50, le=100)


class QualityConfig(_Strict):
    """frames_processed: an absolute floor for broken frames (black, washed out, flat, smeared), then frames
    ranked by sharpness within their shot, measured at the film's own detail level (see image/quality.py)."""
    max_blur: float = Field(0.6, gt=0, le=1, description="blur effect at the film's working size (0 sharp, 1 "
                                                         "blurred); above it a frame is smeared, and dropped")
    min_brightness: float = Field(10.0, ge=0, le=255)
    max_brightness: float = Field(240.0, ge=0, le=255)
    min_contrast: float = Field(12.0, ge=0, description="standard deviation of luma")
    shot_relative_sharpness: float = Field(
        0.1, gt=0, le=1, description="a frame with less than this share of its shot's sharpest frame's Laplacian "
                                     "variance is soft for its shot (a whip pan, a focus pull) and dropped")
    min_sharpness: float | None = Field(
        None, ge=0, description="optional absolute floor: Laplacian variance at the film's working size; a frame "
                                "below it is dropped unless it is one of its shot's best frames (null: off)")
    starved_share: float = Field(0.5, gt=0, lt=1, description="share of the sampled frames dropped by these checks "
                                                              "(duplicates aside) above which frames_processed warns")

    @model_validator(mode="after")
    def _brightness_range(self) -> "QualityConfig":
        if self.min_brightness >= self.max_brightness:
            raise ValueError("min_brightness must be below max_brightness")
        return self


class DedupConfig(_Strict):
    hash_distance: int = Field(6, ge=0, le=64, description="pHash Hamming distance at or below which frames are duplicates")
    borderline_distance: int = Field(12, ge=0, le=64, description="up to this distance, SSIM decides")
    ssim_threshold: float = Field(0.90, gt=0, le=1)
    max_frames: int | None = Field(None, ge=1, description="keep at most this many, chosen for diversity")


class InstancesConfig(_Strict):
    alpha_threshold: float = Field(0.15, ge=0, le=1)
    min_area: int = Field(16384, ge=1)
    points_per_side: int = Field(20, ge=1, le=128)
    points_per_batch: int = Field(64, ge=1)
    pred_iou_thresh: float = Field(0.8, ge=0, le=1)
    stability_score_thresh: float = Field(0.92, ge=0, le=1)
    crop_n_layers: int = Field(0, ge=0, le=3)
    occlusion_threshold: float = Field(0.15, ge=0, le=1)
    temporal_window: int = Field(12, ge=0, le=240)


class IdentitiesConfig(_Strict):
    min_cluster_size: int = Field(10, ge=2)
    min_samples: int | None = Field(None, ge=1)
    selection_method: Literal["eom", "leaf"] = Field(
        "leaf", description="HDBSCAN's cluster selection: leaf splits finely and the silhouette merge joins what "
                            "belongs together; best on the labelled clips (bench/cg_identities.py)")
    cluster_selection_epsilon: float = Field(0.0, ge=0, le=2)
    reduce_dimensions: int | None = Field(32, ge=2, description="PCA dimensions before HDBSCAN; null = raw")
    min_face_size: float = Field(8.0, ge=0, description="smallest inter-ocular distance (px) clustered")
    min_face_sharpness: float = Field(8.0, ge=0, description="smallest Laplacian variance of the aligned crop")
    face_threshold: float = Field(0.3, ge=0, le=1, description="face detection score threshold")
    body_weight: float = Field(0.0, ge=0, le=1,
                               description="weight of the instance's costume colours beside the face (0: off)")
    face_interval_seconds: float | None = Field(
        0.5, gt=0, description="also look for faces in a frame this often (decoded from the source), so each "
                               "character has enough faces to cluster; null = only the kept frames")
    film_centering: Literal["none", "centre", "whiten"] = Field(
        "none", description="remove the film's shared face component before clustering: subtract the film's mean "
                            "embedding (centre), and scale its principal directions (whiten); none measured best "
                            "on the labelled clips (bench/cg_identities.py)")
    whiten_shrink: float = Field(1.0, gt=0, description="whiten: variance added to every direction, in mean variances")
    track_whitening: PositiveFloat | Literal["auto"] | None = Field(
        "auto", description="scale down the directions in which the faces of one track differ (a track is one "
                            "character): the variance added to every direction, in mean variances; auto = the "
                            "film's own Ledoit-Wolf shrinkage of its within-track scatter; null = off; auto "
                            "measured best on the labelled clips (bench/cg_identities.py)")
    merge_below: float | None = Field(
        1.5, gt=0, description="merge clusters whose members are mutually closer than this times the film's "
                                "typical distance (never across faces on one frame); null = off")
    merge_rule: Literal["below", "silhouette"] = Field(
        "silhouette", description="below: every pair under merge_below merges; silhouette: pairs under it merge "
                                  "closest first and the partition with the best silhouette is kept")
    attach_below: float | None = Field(
        1.0, gt=0, description="a noise track joins the cluster it is on average closer to than this times the "
                               "film's typical distance, plus the film's within-track spread over its face count "
                               "(never one on the same frame); null = off")
    attach_rule: Literal["mean", "nearest"] = Field(
        "nearest", description="mean: a noise track joins the cluster it is on average closest to; nearest: the "
                               "cluster of its nearest track (a character seen in several looks is far from each on "
                               "average); nearest measured best on the labelled clips (bench/cg_identities.py)")
    long_tracks: bool = Field(True, description="a noise track of at least min_cluster_size faces is a cluster of "
                                                "its own (a face track is one identity)")
    mesh_weight: float = Field(0.0, ge=0, lt=1,
                               description="weight of the face-mesh geometry (MediaPipe face mesh on each crop) "
                                           "beside the embedding, times the mesh's presence; 0 = off, measured best "
                                           "on the labelled clips (bench/cg_identities.py)")
    carry_costume_similarity: float | None = Field(
        0.9, ge=0, le=1, description="an instance no face or track names takes the character of its shot whose "
                                     "named instances' costume colours are at least this similar; null = off")
    carry_costume_margin: float = Field(0.1, ge=0, le=1,
                                        description="... and this much more similar than the next character's")


class PosesConfig(_Strict):
    sample_size: int = Field(24, ge=1, description="balanced sample size per character")
    front_max: float = Field(0.12, ge=0, description="nose offset / eye distance below which a face is frontal")
    profile_min: float = Field(0.35, ge=0, description="nose offset / eye distance from which a face is in profile")
    back_min_height: int = Field(96, ge=1, description="faceless instances at least this tall (px) count as back views")


class TemporalConfig(_Strict):
    analysis_width: int = Field(320, ge=64, le=1920, description="width of the reduced decode for global motion")
    motion_fps: float = Field(6.0, gt=0, le=60, description="frame pairs per second of film for camera motion")
    # shot scale from the largest face's height (forehead to chin) as a share of the picture height, from closest
    # to widest; the defaults are the conventional framings of a figure about 8 heads tall, in face heights the
    # picture spans: the face fills it < 1.25, head and shoulders < 2.8, chest up < 3.8, waist up < 5.5, knees up
    # to the whole figure < 12, a small whole figure < 40
    extreme_close_up: float = Field(0.8, gt=0, le=1)
    close_up: float = Field(0.36, gt=0, le=1)
    medium_close_up: float = Field(0.26, gt=0, le=1)
    medium: float = Field(0.18, gt=0, le=1)
    medium_long: float = Field(0.083, gt=0, le=1)
    long: float = Field(0.025, gt=0, le=1)
    # the same bands for a faceless shot's whole figure (its face box would be about a ninth of its height)
    figure_medium_long: float = Field(0.78, gt=0, le=1, description="whole-figure height share from which a faceless shot is medium_long")
    figure_long: float = Field(0.24, gt=0, le=1, description="whole-figure height share from which it is long (below: extreme_long)")
    scene_similarity: float = Field(0.55, gt=0, le=1, description="colour-histogram similarity that keeps a shot in its scene")
    act_min_scenes: int = Field(3, ge=1, description="fewest scenes in an act")
    face_interval_seconds: float = Field(1.0, gt=0, description="how often motion looks for faces to track")
    min_track_samples: int = Field(3, ge=2, description="sampled frames a track needs to be kept")
    action_window_s: float = Field(1.0, gt=0, description="length of the windows actions are named on")
    pose_interval_seconds: float = Field(0.5, gt=0, description="how often a tracked character's pose is estimated")
    effects_fps: float = Field(4.0, gt=0, le=60, description="frames per second the effects signals are measured on")
    effect_threshold: float = Field(0.5, gt=0, lt=1, description="intensity from which a frame counts as showing an effect")
    effect_prompts: dict[str, str] = Field(default_factory=dict,
                                           description="effect type -> text for the zero-shot (CLIP) confirmation")
    faceless_scale: Literal["figures", "none"] = Field(
        "figures", description="scale of a shot without a face: from the tracked figures and their poses, else a "
                               "card (no_subject) or a view (extreme_long); `none`: no_subject unless reviewed "
                               "instances give a figure (the method before issue 18)")
    camera_fallback: bool = Field(True, description="phase correlation on the reduced frame for the frame pairs "
                                                    "where too few corners are tracked (dark, hazy, flat shots)")
    card_detail: float = Field(0.2, gt=0, lt=1, description="share of a frame's pixels away from its median "
                                                            "brightness below which a faceless, figureless shot is a "
                                                            "card (no_subject) rather than a view")
    faces_from_elsewhere: bool = Field(False, description="set aside a shot's only face when it is seen at one "
                                       "end of the shot in colours unlike the rest's (another shot's, through a "
                                       "missed transition) and scale the shot from its middle; off: it loses a "
                                       "check shot (README, issue 18)")
    camera_window_s: float = Field(1.0, ge=0, le=10, description="pan and tilt rates also from the median over "
                                   "the shot's windows this long of each window's rate, so a drift that turns back "
                                   "still reads moving; 0: the shot's median alone (before issue 18)")
    person_mask: bool = Field(True, description="a shot with no face, track or pose is scaled from the poses "
                              "confirmed on its faceless looks' person masks before it is called a view")
    person_pose_share: float = Field(0.5, gt=0, le=1, description="share of the faceless looks (two at least) "
                                     "on which a pose must confirm the mask for the shot to be scaled by it")
    faceless_hands: bool = Field(True, description="a shot with no face, track or pose (on the mask) whose "
                                 "faceless looks show a hand (MediaPipe's palm detector, confirmed by its hand "
                                 "landmark model) on `person_pose_share` of them, two at least, as long as a "
                                 "close framing's face is tall (`medium_close_up` and up; wrist to fingertip is "
                                 "about a face's height) is scaled by it on the face bands before it is called a "
                                 "view; the hands are looked for by the person finder, so only with `person_mask`")
    hand_presence: float = Field(0.5, gt=0, lt=1, description="the hand landmark model's presence flag from which "
                                 "a palm counts as a hand (MediaPipe's own threshold)")


class AudioConfig(_Strict):
    diarize_on: Literal["auto", "mixture", "vocals"] = Field(
        "auto", description="what the diarizer hears: the mixture, the vocals stem, or (auto) the stem where "
                            "the score hides speech from voice activity detection on the mixture")


class ModelsConfig(_Strict):
    shot_detector: Literal["default", "transnetv2"] | None = None


class TrainingConfig(_Strict):
    """captions, lora_dataset and lora_evaluation: caption text and length, the per-character set's size, the
    kohya training settings, and the fixed prompts and seeds checkpoints are compared on."""
    caption_prefix: str = "a 3d animated character, pixar style, smooth shading"
    trigger_words: dict[str, str] = Field(default_factory=dict, description="character -> trigger word (default: "
                                                                            "the name lower-cased, 'sks' prefixed)")
    caption_prompt: str = Field(
        "Describe this 3D animated character for an image generator in one sentence: its materials and textures, "
        "the lighting, the camera angle, its pose and its expression.", description="the VLM captioner's prompt")
    min_caption_tokens: int = Field(40, ge=1, le=77, description="CLIP tokens (with start and end) a caption aims for")
    max_caption_tokens: int = Field(77, ge=8, le=77, description="CLIP's context: longer captions are cut on a word")
    min_images: int = Field(200, ge=1, description="fewest usable images for a character to get a subset")
    max_images: int = Field(500, ge=1, description="most images per character")
    resolution: int = Field(512, ge=64, le=2048)
    network_dim: int = Field(32, ge=1, le=1024)
    network_alpha: float = Field(16.0, gt=0)
    learning_rate: float = Field(1e-4, gt=0)
    max_train_steps: int = Field(2000, ge=1)
    train_batch_size: int = Field(2, ge=1)
    checkpoints: str | None = Field(None, description="folder of *.safetensors LoRA checkpoints to evaluate "
                                                      "(relative paths: to the config folder)")
    eval_prompts: list[str] = Field(default_factory=lambda: [
        "{trigger}, full body, standing, front view", "{trigger}, close-up portrait, smiling",
        "{trigger}, running, side view"])
    eval_seeds: list[int] = Field(default_factory=lambda: [1, 2])
    eval_steps: int = Field(20, ge=1, le=200)
    eval_size: int = Field(512, ge=16, le=2048)

    @model_validator(mode="after")
    def _ranges(self) -> "TrainingConfig":
        if self.min_caption_tokens > self.max_caption_tokens:
            raise ValueError("min_caption_tokens must not exceed max_caption_tokens")
        if self.min_images > self.max_images:
            raise ValueError("min_images must not exceed max_images")
        return self


class DatasetsConfig(_Strict):
    licence: str = Field("unknown", description="the source film's licence, written into every dataset card "
                                                 "(e.g. cc-by-3.0); 'unknown' says nobody stated it")
    split_by: Literal["scene", "shot"] = Field("scene", description="rows of one scene (or shot) share a split")
    validation_share: float = Field(0.1, ge=0, lt=1)
    test_share: float = Field(0.1, ge=0, lt=1)
    clip_seconds: float = Field(4.0, gt=0, le=60, description="longest audio clip per row")
    shard_rows: int = Field(500, ge=1, description="most rows per Parquet shard")
    shard_megabytes: int = Field(128, ge=1, description="a shard is closed once its images and audio reach this "
                                                         "(the shard file's size)")
    row_group_megabytes: int = Field(8, ge=1, description="rows go to their shard in row groups of about this much "
                                                          "images and audio: what memory holds while writing")
    timeline_slice_seconds: float = Field(0.1, gt=0, le=10, description="slice length of the timeline's slice table")


class FilmConfig(_Strict):
    characters: list[Character] = Field(default_factory=list)
    review: Literal["manual", "auto"] = "manual"
    shots: ShotsConfig = ShotsConfig()
    sampling: SamplingConfig = SamplingConfig()
    quality: QualityConfig = QualityConfig()
    dedup: DedupConfig = DedupConfig()
    instances: InstancesConfig = InstancesConfig()
    identities: IdentitiesConfig = IdentitiesConfig()
    poses: PosesConfig = PosesConfig()
    temporal: TemporalConfig = TemporalConfig()
    audio: AudioConfig = AudioConfig()
    models: ModelsConfig = ModelsConfig()
    training: TrainingConfig = TrainingConfig()
    datasets: DatasetsConfig = DatasetsConfig()

    @model_validator(mode="before")
    @classmethod
    def _names_as_strings(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("characters"), list):
            data = dict(data)
            data["characters"] = [{"name": c} if isinstance(c, str) else c for c in data["characters"]]
        return data

    @model_validator(mode="after")
    def _unique_names(self) -> "FilmConfig":
        names = [c.name for c in self.characters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"character names must be unique, repeated: {', '.join(dupes)}")
        return self


def _format_error(err: dict) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{where}: {msg}"


def parse_film_config(text: str, source: str | Path) -> FilmConfig:
    """Parse and validate YAML text; errors name `source`, the key and the reason."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"(top level): expected a mapping of keys, got {type(data).__name__}"])
    try:
        return FilmConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_format_error(e) for e in exc.errors()]) from None


def load_film_config(config_dir: str | Path, film: str) -> tuple[FilmConfig, Path | None]:
    """The film's config and the file it came from; generic defaults (and None) when there is no file."""
    path = Path(config_dir) / f"{film}.yaml"
    if not path.exists():
        return FilmConfig(), None
    return parse_film_config(path.read_text(encoding="utf-8"), path), path
