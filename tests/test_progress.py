"""Progress a user can watch: the core's reporter keeps its promised rate (every 5% or 30 s) on the sample film's
decode pass and on audio separation, its lines read back, and the CLI's two displays (bars on a terminal, plain
lines without control characters elsewhere)."""
import io
import re

import numpy as np
import pytest

from animproc.config import FilmConfig
from animproc.progress import ProgressReport, ProgressReporter, parse_line

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but tab and newline


class Ticking:
    """A clock that moves `step` seconds each time it is read."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _collect(clock=None) -> tuple[ProgressReporter, list[ProgressReport]]:
    reports: list[ProgressReport] = []
    return ProgressReporter(reports.append, **({"clock": clock} if clock else {})), reports


def _assert_promised_rate(reports: list[ProgressReport], total: float, increment: float, seconds: float = 30):
    """Between two reports at most 5% of the total (plus the last update's own size) or `seconds` pass; the
    first report is at 0 and the last says the task finished with all of it done."""
    assert reports[0].done == 0 and reports[-1].finished and reports[-1].done == pytest.approx(total, abs=0.1)
    for before, after in zip(reports, reports[1:]):
        assert after.done - before.done <= 0.05 * total + increment + 1e-6, (before, after)
        assert after.seconds - before.seconds <= seconds + 1, (before, after)


def test_reporter_reports_each_five_percent_once_and_when_thirty_seconds_pass():
    clock = Ticking(0.0)
    reporter, reports = _collect(clock)
    task = reporter.task("decode", 1000, "frames")
    for done in range(1, 1001):
        task.update(done)
    task.finish()
    assert [r.done for r in reports] == [0.0, *range(50, 1000, 50), 1000.0]
    assert reports[-1].finished and sum(r.finished for r in reports) == 1

    clock.step = 4.0  # a slow loop: 4 s per update, so 30 s pass long before the next 5%
    reporter, reports = _collect(clock)
    task = reporter.task("faces", 1000, "frames")
    for done in range(1, 20):
        task.update(done)
    assert len(reports) == 3 and all(r.done < 50 for r in reports)
    assert all(30 <= b.seconds - a.seconds <= 38 for a, b in zip(reports, reports[1:]))


def test_report_line_reads_back_and_says_rate_and_eta():
    report = ProgressReport("separate", "s of audio", 30.0, 120.0, 10.0)
    line = report.line()
    assert line == "PROGRESS separate: 30/120 s of audio (25.0%), 3 s of audio/s, ETA 30 s, 10.0 s elapsed"
    assert parse_line(line) == report
    done = ProgressReport("decode", "frames", 912, None, 2.0, finished=True)
    assert parse_line(done.line()) == done
    assert parse_line("decoded 500 of 912 frames") is None
    assert report.to_dict()["rate"] == 3.0 and report.to_dict()["eta_seconds"] == 30.0


def test_decode_pass_of_the_sample_film_reports_at_the_promised_rate(sample_film):
    from animproc.video.scan import FrameWriter, scan_film

    reporter, reports = _collect(Ticking(1.0))  # 1 s per clock read: the 30 s rule is exercised too
    result = scan_film(sample_film[0], FilmConfig(), 24.0, FrameWriter(lambda n, b: None), progress=reporter,
                       frame_count=912)
    assert result.frame_count == 912
    assert {r.task for r in reports} == {"decode"} and len(reports) >= 21
    _assert_promised_rate(reports, 912, 1)
    assert any(b.done - a.done < 0.05 * 912 - 1 for a, b in zip(reports, reports[1:]))  # some came by time


class _Half:
    name = "half"

    def vocals(self, chunk: np.ndarray, rate: int) -> np.ndarray:
        return chunk * 0.5


def test_audio_extraction_and_separation_report_at_the_promised_rate(sample_film, tmp_path):
    from animproc.audio.extract import extract_audio
    from animproc.audio.separate import separate_file

    reporter, reports = _collect()
    extract_audio(sample_film[0], tmp_path / "a.wav", tmp_path / "a.flac", reporter)
    extracted = [r for r in reports if r.task == "extract"]
    _assert_promised_rate(extracted, extracted[-1].total, 0.1)
    reporter, reports = _collect()
    info = separate_file(_Half(), tmp_path / "a.flac", tmp_path / "v.flac", tmp_path / "acc.flac",
                         chunk_seconds=1.0, overlap_seconds=0.25, progress=reporter)
    assert reports[0].total == pytest.approx(info["seconds"], abs=0.05)
    _assert_promised_rate(reports, reports[0].total, 1.0)
    assert len(reports) >= 20 and reports[-1].unit == "s of audio"


def test_plain_display_writes_lines_without_control_characters():
    from animproc_dagster.cli.display import PlainDisplay

    out = io.StringIO()
    display = PlainDisplay(out)
    display.started("vocals")
    display.progress("vocals", ProgressReport("separate", "s of audio", 12, 38, 2.0), "[   3.0s]")
    display.waiting("vocals", "vocals waits for a free slot in pool 'gpu' (held by run x step vocals)", "[   3.5s]")
    text = out.getvalue()
    assert "vocals: separate 12/38 s of audio (31.6%), 6 s of audio/s, ETA 4 s" in text
    assert "waits for a free slot in pool 'gpu'" in text and not CONTROL.search(text)


def test_live_display_draws_a_bar_per_step_with_percent_rate_and_eta_or_what_it_waits_for():
    from rich.console import Console

    from animproc_dagster.cli.display import LiveDisplay

    console = Console(file=io.StringIO(), force_terminal=True, width=140, record=True)
    display = LiveDisplay(console)
    display.started("shots_and_frames")
    display.progress("shots_and_frames", ProgressReport("decode", "frames", 456, 912, 4.0), "")
    display.waiting("vocals", "waits for a slot in pool 'gpu'", "")
    display.bars.refresh()
    drawn = console.export_text()
    display.close()
    assert "shots_and_frames decode" in drawn and "50%" in drawn and "114 frames/s, ETA 4 s" in drawn
    assert "vocals" in drawn and "waits for a slot in pool 'gpu'" in drawn


def test_effects_scan_of_the_sample_film_reports_at_the_promised_rate(sample_film):
    from animproc.temporal.effects import scan_effects
    from animproc.video.scan import FrameWriter, scan_film

    shots = scan_film(sample_film[0], FilmConfig(), 24.0, FrameWriter(lambda n, b: None)).shots_table()
    reporter, reports = _collect()
    scan_effects(sample_film[0], shots, 24.0, 4.0, 160, progress=reporter)
    assert {r.task for r in reports} == {"effects"} and reports[0].total == 912
    _assert_promised_rate(reports, 912, 6)  # the decoder may hand over frames a few at a time


def test_active_speaker_decode_pass_reports_at_the_promised_rate(sample_film):
    import pandas as pd

    from animproc.multimodal.active_speaker import find_active_speakers, silent_audio

    class NoFaces:
        def __call__(self, bgr):
            return []

    n_steps = 380  # the sample film's 38 s at 0.1 s
    shots = pd.DataFrame({"shot_id": [0], "start_frame": [0], "end_frame": [911]})
    segments = pd.DataFrame({"start": pd.Series(dtype=float), "end": pd.Series(dtype=float),
                             "speaker": pd.Series(dtype=object)})
    reporter, reports = _collect()
    scores, _ = find_active_speakers(sample_film[0], 24.0, 640, 360, shots, segments, silent_audio(n_steps),
                                     NoFaces(), model=None, progress=reporter)
    assert scores.empty and {r.task for r in reports} == {"active_speakers"}
    _assert_promised_rate(reports, 38.0, 1 / 24)


def test_embedded_diarization_reports_the_speech_it_has_embedded():
    from animproc.audio.diarize import EmbeddedDiarizer
    from animproc.sample.film import CHARACTERS
    from animproc.sample.voices import speak

    sr = 16000
    wav = np.concatenate([np.concatenate([speak(2.0, CHARACTERS[k % 2].voice, sr, seed=k)[0], np.zeros(sr // 2)])
                          for k in range(10)]).astype(np.float32)
    reporter, reports = _collect()
    EmbeddedDiarizer()(wav, progress=reporter)
    diarized = [r for r in reports if r.task == "diarize"]
    assert diarized and diarized[-1].unit == "s of speech"
    _assert_promised_rate(diarized, diarized[-1].total, 3.0)


def test_shot_structure_pass_of_the_sample_film_reports_at_the_promised_rate(sample_film):
    import pandas as pd

    from animproc.config import TemporalConfig
    from animproc.temporal.structure import scan_structure

    shots = pd.DataFrame({"shot_id": [0, 1], "start_frame": [0, 456], "end_frame": [455, 911]})
    reporter, reports = _collect(Ticking(1.0))
    found = scan_structure(sample_film[0], shots, 24.0, TemporalConfig(), progress=reporter)
    assert set(found) == {0, 1} and {r.task for r in reports} == {"structure"}
    assert reports[0].total == 912 and reports[-1].unit == "frames"
    _assert_promised_rate(reports, 912, 6)  # frames no other frame refers to are not decoded: indices skip


def _faces(n_shots: int, per_shot: int, seed: int = 0):
    """Faces of three well separated identities, one per shot in turn, in consecutive sampled frames."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    centres = np.eye(3, 16)
    rows = []
    for shot in range(n_shots):
        for k in range(per_shot):
            e = centres[shot % 3] + 0.05 * rng.standard_normal(16)
            rows.append({"face_id": f"f{shot}_{k}", "shot_id": shot, "frame_index": 100 * shot + 10 * k,
                         "x0": 10.0, "y0": 10.0, "x1": 60.0, "y1": 60.0, "excluded": None,
                         "instance_id": None, "embedding": list(e / np.linalg.norm(e))})
    return pd.DataFrame(rows)


def test_identity_clustering_reports_faces_linked_and_tracks_clustered_at_the_promised_rate():
    import pandas as pd

    from animproc.identity.stages import cluster_identities

    faces = _faces(60, 5)
    kept = pd.DataFrame({"instance_id": pd.Series(dtype=object), "cutout_path": pd.Series(dtype=object)})
    reporter, reports = _collect(Ticking(0.5))
    ids = cluster_identities(faces, kept, None, FilmConfig(), lambda emb, result: {}, reporter)
    assert len(ids.result.clusters) == 3
    linked = [r for r in reports if r.task == "tracks"]
    assert linked[-1].unit == "faces"
    _assert_promised_rate(linked, 300, 5)  # a shot at a time
    clustered = [r for r in reports if r.task == "cluster"]
    assert [r.done for r in clustered] == [0, 60] and clustered[-1].finished and clustered[-1].unit == "tracks"


def test_captions_report_the_images_captioned_at_the_promised_rate():
    import pandas as pd

    from animproc.config import TrainingConfig
    from animproc.training.captions import ApproximateTokenCounter, CaptionFacts, TemplateCaptioner, caption_images

    n = 200
    index = pd.DataFrame({"character": ["ava"] * n, "id": [f"i{k}" for k in range(n)],
                          "path": [f"p{k}.png" for k in range(n)]})
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[8:24, 8:24] = (40, 160, 220, 255)
    reporter, reports = _collect()
    table = caption_images(index, [CaptionFacts("ava")] * n, lambda p: rgba, TemplateCaptioner(),
                           ApproximateTokenCounter(), TrainingConfig(), batch=4, progress=reporter)
    assert len(table) == n and {r.task for r in reports} == {"captions"} and reports[-1].unit == "images"
    _assert_promised_rate(reports, n, 4)


def test_dataset_shards_report_the_rows_written_at_the_promised_rate(tmp_path):
    import pandas as pd

    from animproc.catalogue import FilmProducts
    from animproc.datasets.shards import write_shards
    from animproc.datasets.tasks import TASKS
    from animproc.storage import Storage

    spec, n = TASKS["scene_understanding"], 120
    rows = pd.DataFrame({"shot_id": range(n), "scene_id": 0, "group": "scene:0",
                         "split": ["train"] * 100 + ["test"] * 20, "row_id": [f"r{k}" for k in range(n)]})
    reporter, reports = _collect(Ticking(2.0))
    with FilmProducts(Storage(tmp_path / "data"), "f").publish(spec.name) as out:
        write_shards(out, spec, rows, lambda r: {}, {}, 50, progress=reporter)
    assert {r.task for r in reports} == {"rows"} and reports[-1].unit == "rows"
    _assert_promised_rate(reports, n, 1)


# Film assets whose work does not grow with the film, each with the reason. An asset that reports progress
# must not be listed here; a new asset must either report or be listed with its reason.
NO_PROGRESS_NEEDED = {
    "source_video": "probes the container's header: the same few reads for a short film or a feature",
    "voice_features": "reads at most 60 s of speech per speaker, however long the film",
}
REPORTS = re.compile(r"step\.progress|progress_logger\(")


def _asset_source(assets_def) -> str:
    """The asset body's source with that of the module's own functions it calls (one level), where a body
    hands its work to a helper (the dataset assets)."""
    import inspect

    fn = inspect.unwrap(assets_def.op.compute_fn.decorated_fn)
    module = inspect.getmodule(fn)
    helpers = [getattr(module, n) for n in fn.__code__.co_names if inspect.isfunction(getattr(module, n, None))]
    return "\n".join(inspect.getsource(f) for f in [fn, *helpers] if inspect.getmodule(f) is module)


def test_every_film_step_reports_progress_or_is_exempt_with_a_reason():
    from dagster import AssetsDefinition

    from animproc_dagster.definitions import ASSETS

    steps = {a.op.name: a for a in ASSETS if isinstance(a, AssetsDefinition)}
    assert {"shot_structure", "identity_clusters", "captions", "dataset_scene_understanding",
            "datasets_all_films"} <= set(steps)
    silent = sorted(name for name, a in steps.items() if not REPORTS.search(_asset_source(a)))
    assert silent == sorted(NO_PROGRESS_NEEDED), "a step whose work grows with the film must report progress"
    assert all(len(why) > 20 for why in NO_PROGRESS_NEEDED.values())
