"""On real footage from ../shared/media (skipped where it is absent)."""
import json
from pathlib import Path

import numpy as np

from dagster import instance_for_test

from animproc.config import FilmConfig
from animproc.image.boxes import box_iou
from animproc.library import store_source
from animproc.storage import Storage
from animproc.video.evaluate import score_boundaries
from animproc.video.probe import probe_media
from animproc.video.scan import FrameWriter, scan_film
from animproc_dagster.definitions import build_defs
from dagster_helpers import run_film
from resources.film_config import FilmConfigResource
from resources.shot_detector import ShotDetectorResource
from resources.storage import StorageResource

REFERENCE = Path(__file__).resolve().parents[1] / "bench" / "reference" / "sintel_trailer_shots.json"


def test_sintel_trailer_shots_found_and_frames_written(shared_media, tmp_path):
    """The real trailer materialises: shots found, frames written, checks pass."""
    media = shared_media / "sintel_trailer" / "sintel.mp4"
    st = Storage(tmp_path / "data")
    store_source(st, "sintel", media)
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)),
                      ShotDetectorResource(backend="default"))
    with instance_for_test() as instance:
        result = run_film(defs, instance, "sintel")
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    shots = st.read_parquet(st.asset_dir("sintel", "shots") / "shots.parquet")
    frames = st.read_parquet(st.asset_dir("sintel", "frames") / "manifest.parquet")
    assert len(shots) >= 12 and len(frames) >= len(shots)
    assert set(frames["width"]) == {480} and set(frames["height"]) == {204}


def test_sintel_trailer_against_hand_labelled_boundaries(shared_media):
    """Against our by-eye reference (bench/reference): at least 80% recall and 90% precision."""
    ref = json.loads(REFERENCE.read_text())
    media = shared_media / "sintel_trailer" / "sintel.mp4"
    result = scan_film(media, FilmConfig(), probe_media(media).fps, FrameWriter(lambda n, b: None))
    assert result.frame_count == ref["frames"]
    score = score_boundaries([(t["first"], t["last"]) for t in ref["transitions"]],
                             [s.start_frame for s in result.shots[1:]])
    assert score.recall >= 0.8 and score.precision >= 0.9, score


def test_single_shot_clip_has_no_boundaries(shared_media):
    """The llama clip is one continuous shot."""
    media = shared_media / "caminandes_llama" / "clip_02_caminandes.mp4"
    result = scan_film(media, FilmConfig(), probe_media(media).fps, FrameWriter(lambda n, b: None))
    assert len(result.shots) == 1 and result.shots[0].end_frame == result.frame_count - 1


def test_vp8_webm_and_51_audio_are_probed(shared_media):
    webm = probe_media(shared_media / "bbb_720p_30s" / "big_buck_bunny_0_30.webm")
    assert webm.video_codec == "vp8" and webm.frame_count == 720
    surround = probe_media(shared_media / "bbb_480p_51_30s" / "big_buck_bunny_480p_30s.mp4")
    assert surround.audio[0].channels == 6 and surround.audio[0].layout == "5.1"


def test_embedded_segmenter_finds_characters_in_hand_boxed_real_frames(shared_media):
    """On 15 real frames with every character boxed by eye, the default embedded segmenter finds at least
    40% of them as character instances (box IoU >= 0.5; measured 47%, see bench/instances.py), and the
    title card yields no face-backed character."""
    import av

    from animproc.instances.extract import extract_instances
    from animproc.instances.segment import EmbeddedSegmenter, content_box
    from resources.face_analyzer import FaceAnalyzerResource

    ref = json.loads((REFERENCE.parent / "character_boxes.json").read_text())
    detector, segmenter = FaceAnalyzerResource(backend="embedded").model().detector, EmbeddedSegmenter()
    found = total = 0
    for entry in ref["frames"]:
        with av.open(str(shared_media / entry["clip"])) as c:
            image = next(f for i, f in enumerate(c.decode(video=0)) if i == entry["frame"]).to_ndarray(format="bgr24")
        x0, y0, x1, y1 = content_box(image)
        faces = detector(image)
        instances = extract_instances(image, segmenter(image, faces), faces, int(0.02 * (x1 - x0) * (y1 - y0)), 0.15)
        boxes = [(i.box[0], i.box[1], i.box[0] + i.box[2], i.box[1] + i.box[3]) for i in instances
                 if i.prediction.category == "character"]
        if not entry["boxes"]:
            assert not any(i.prediction.face_score for i in instances)
        for b in entry["boxes"]:
            total += 1
            found += any(box_iou(b, p) >= 0.5 for p in boxes)
    assert found / total >= 0.4


def test_cluster_images_on_labelled_photos_meets_purity_and_ari(shared_media, tmp_path):
    """`animproc cluster-images` with the embedded analyzer (min cluster size 2) on 5 people's photos:
    purity >= 0.95, ARI >= 0.9, and each person in a multi-face scene lands in their own cluster."""
    import subprocess
    import sys

    out = tmp_path / "assignment.json"
    folder = shared_media / "faces_labelled"
    run = subprocess.run([sys.executable, "-m", "animproc_dagster.cli", "cluster-images", str(folder), "--output",
                          str(out), "--min-cluster-size", "2"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    from animproc.identity.images import load_reference, score_assignment

    scores = score_assignment(json.loads(out.read_text()), load_reference(folder / "identities.json"))
    assert scores["purity"] >= 0.95 and scores["ari"] >= 0.9 and scores["clusters"] == 5
    assert scores["multi_face_scenes"] and all(all(p.values()) for p in scores["multi_face_scenes"].values())
    evaluated = subprocess.run([sys.executable, "-m", "animproc_dagster.cli", "eval", "identities", "--assignment",
                                str(out), "--reference", str(folder / "identities.json")],
                               capture_output=True, text=True, timeout=120)
    assert evaluated.returncode == 0 and "clusters 5 (reference identities 5" in evaluated.stdout


def test_snow_fight_girl_and_warrior_end_in_different_clusters(shared_media, tmp_path):
    """The film path on the real snow-fight clip (auto review, faces every 1/8 s, min cluster size 4): the
    girl's faces (named by eye in bench/reference/snow_fight_faces.json) and the warrior's land in different
    clusters, each mostly in its own."""
    from collections import Counter

    from animproc_dagster.definitions import build_defs as defs_for

    ref = json.loads((REFERENCE.parent / "snow_fight_faces.json").read_text())
    st = Storage(tmp_path / "data")
    store_source(st, "snow", shared_media / "sintel_snow_fight" / "clip_03_sintel.mp4")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "snow.yaml").write_text(
        "review: auto\nidentities:\n  min_cluster_size: 4\n  face_interval_seconds: 0.125\n")
    defs = defs_for(StorageResource(root=str(tmp_path / "data")),
                    FilmConfigResource(config_dir=str(tmp_path / "configs")), ShotDetectorResource(backend="default"))
    with instance_for_test() as instance:
        assert run_film(defs, instance, "snow").success
        job = defs.resolve_job_def("instances_reviewed")
        assert job.execute_in_process(instance=instance, partition_key="snow").success
    faces = st.read_parquet(st.asset_dir("snow", "identity_clusters") / "faces.parquet")
    found: dict[str, list[int]] = {}
    for f in ref["faces"]:
        here = faces[faces["frame_index"] == f["frame"]]
        hits = [(box_iou(f["box"], [r.x0, r.y0, r.x1, r.y1]), int(r.cluster)) for r in here.itertuples()]
        best = max(hits, default=(0.0, None))
        if best[0] >= 0.3:
            found.setdefault(f["identity"], []).append(best[1])
    girl, girl_n = Counter(found["girl"]).most_common(1)[0]
    warrior, warrior_n = Counter(found["warrior"]).most_common(1)[0]
    assert girl != -1 and warrior != -1 and girl != warrior
    assert girl_n >= 0.6 * len(found["girl"]) and warrior_n >= 0.6 * len(found["warrior"])


def test_identity_path_on_a_film_of_labelled_photos(shared_media, tmp_path):
    """A film made of the labelled photos (one second each, people interleaved) goes through the whole
    identity path: clusters match the people (scored as `animproc eval identities` does), and names given in
    the film config with a reference photo not in the film are suggested for the right clusters."""
    import cv2

    from animproc.identity.images import film_assignment, score_assignment
    from media_helpers import write_video

    folder = shared_media / "faces_labelled"
    people = {p: sorted(f.name for f in (folder / p).iterdir()) for p in ("obama", "biden", "kit_harington", "alex_lacamoire")}
    held_out = {"obama": "obama_small.jpg", "kit_harington": "john2.jpeg"}
    order = []
    for k in range(5):
        order += [(p, files[k]) for p, files in people.items() if k < len(files) and files[k] != held_out.get(p)]
    frames, spans = [], []
    for person, name in order:
        img = cv2.imread(str(folder / person / name))
        s = min(640 / img.shape[1], 480 / img.shape[0])
        small = cv2.resize(img, (int(img.shape[1] * s) // 2 * 2, int(img.shape[0] * s) // 2 * 2))
        canvas = np.zeros((480, 640, 3), np.uint8)
        y, x = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
        canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
        spans.append((len(frames), len(frames) + 23, person))
        frames += [canvas[..., ::-1].copy()] * 24
    video = write_video(tmp_path / "photos.mp4", frames)
    st = Storage(tmp_path / "data")
    store_source(st, "photos", video)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "photos.yaml").write_text(
        "review: auto\ncharacters:\n"
        + "".join(f"  - name: {p}\n    reference_image: {folder / p / f}\n" for p, f in held_out.items())
        + "identities:\n  min_cluster_size: 2\n")
    defs = build_defs(StorageResource(root=str(tmp_path / "data")),
                      FilmConfigResource(config_dir=str(tmp_path / "configs")), ShotDetectorResource(backend="default"))
    with instance_for_test() as instance:
        assert run_film(defs, instance, "photos").success
        job = defs.resolve_job_def("instances_reviewed")
        result = job.execute_in_process(instance=instance, partition_key="photos")
        assert result.success
    faces = st.read_parquet(st.asset_dir("photos", "identity_clusters") / "faces.parquet")
    label = {i: p for a, b, p in spans for i in range(a, b + 1)}
    reference = {f"{i:07d}.jpg": label[i] for i in faces["frame_index"].unique()}
    scores = score_assignment(film_assignment(st, "photos"), reference)
    assert scores["purity"] >= 0.95 and scores["ari"] >= 0.9 and scores["clusters"] == len(people)
    clusters = json.loads((tmp_path / "data" / "photos" / "identity_clusters" / "clusters.json").read_text())
    named = {c["suggested_name"]: c["cluster"] for c in clusters["clusters"] if c.get("suggested_name")}
    assert set(named) == set(held_out)
    for person, cluster in named.items():
        members = faces[faces["cluster"] == cluster]["frame_index"].map(label)
        assert members.value_counts().index[0] == person


def test_sintel_trailer_structure_title_cards_have_no_subject(shared_media, tmp_path):
    """On the real trailer: the shot with the SINTEL title card (frame 1000) is no_subject, the shot of the
    girl's face filling the picture (frame 660) a close-up or closer."""
    from dagster import AssetKey

    st = Storage(tmp_path / "data")
    store_source(st, "sintel", shared_media / "sintel_trailer" / "sintel.mp4")
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)),
                      ShotDetectorResource(backend="default"))
    with instance_for_test() as instance:
        keys = [AssetKey(k) for k in ("source_video", "shots", "frames", "shot_structure")]
        assert run_film(defs, instance, "sintel", asset_selection=keys).success
    table = st.read_parquet(st.asset_dir("sintel", "shot_structure") / "shot_structure.parquet")

    def shot_at(frame: int):
        return table[(table["start_frame"] <= frame) & (table["end_frame"] >= frame)].iloc[0]

    assert shot_at(1000)["scale"] == "no_subject"
    assert shot_at(660)["scale"] in ("close_up", "extreme_close_up")


def _motion_and_effects(shared_media, tmp_path, name: str, relative: str) -> Storage:
    from dagster import AssetKey

    st = Storage(tmp_path / "data")
    store_source(st, name, shared_media / relative)
    defs = build_defs(StorageResource(root=str(tmp_path / "data")), FilmConfigResource(config_dir=str(tmp_path)),
                      ShotDetectorResource(backend="default"))
    with instance_for_test() as instance:
        keys = [AssetKey(k) for k in ("source_video", "shots", "frames", "motion", "effects_catalog")]
        assert run_film(defs, instance, name, asset_selection=keys).success
    return st


def test_llama_is_one_shot_whose_subject_is_tracked_throughout(shared_media, tmp_path):
    """caminandes_llama: one shot, one track that covers at least 90 % of it and stays on the llama (judged by
    eye on the clip: the llama stands left of centre, its box centre between 30 % and 60 % of the width)."""
    st = _motion_and_effects(shared_media, tmp_path, "llama", "caminandes_llama/clip_02_caminandes.mp4")
    shots = st.read_parquet(st.asset_dir("llama", "shots") / "shots.parquet")
    tracks = st.read_parquet(st.asset_dir("llama", "motion") / "tracks.parquet")
    assert len(shots) == 1 and len(tracks) == 1
    t = tracks.iloc[0]
    span = shots.iloc[0]["end_frame"] - shots.iloc[0]["start_frame"]
    assert (t["end_frame"] - t["start_frame"]) >= 0.9 * span
    xs = [p[1] for p in json.loads(t["path"])]
    assert 0.3 <= min(xs) and max(xs) <= 0.6


def test_snow_fight_snow_is_weather_well_above_the_llama_clip(shared_media, tmp_path):
    """Snow in the snow-fight clip is catalogued as snow and weather; its mean snow intensity is at least five
    times the llama clip's (desert, no particles), which has no snow or weather entry."""
    snow = _motion_and_effects(shared_media, tmp_path / "a", "snow", "sintel_snow_fight/clip_03_sintel.mp4")
    llama = _motion_and_effects(shared_media, tmp_path / "b", "llama", "caminandes_llama/clip_02_caminandes.mp4")
    s_signals = snow.read_parquet(snow.asset_dir("snow", "effects_catalog") / "signals.parquet")
    l_signals = llama.read_parquet(llama.asset_dir("llama", "effects_catalog") / "signals.parquet")
    assert s_signals["snow"].mean() >= 0.2 and s_signals["snow"].mean() >= 5 * max(l_signals["snow"].mean(), 0.01)
    s_events = snow.read_parquet(snow.asset_dir("snow", "effects_catalog") / "effects.parquet")
    l_events = llama.read_parquet(llama.asset_dir("llama", "effects_catalog") / "effects.parquet")
    assert {"snow", "weather"} <= set(s_events["type"]) and not {"snow", "weather"} & set(l_events["type"])
