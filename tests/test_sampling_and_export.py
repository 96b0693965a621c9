import io

import pandas as pd
from scenedetect import FrameTimecode
from scenedetect.scene_manager import write_scene_list

from animproc.export import shots_csv, shots_json
from animproc.video.evaluate import score_boundaries
from animproc.video.sampling import Candidate, ShotSampler


def test_scene_sampler_spreads_sharpest_picks_over_the_shot():
    s = ShotSampler("scene", 3, 2.0)
    for i in range(300):
        s.offer(Candidate(i, i / 24, sharpness=float(i % 17)))
    picks = s.close(0, 299)
    assert len(picks) == 3
    assert picks[0].index < 100 <= picks[1].index < 200 <= picks[2].index
    assert all(p.sharpness >= 14 for p in picks)


def test_scene_sampler_memory_is_bounded_for_long_shots():
    """The reservoir never holds more than 4N candidates, however long the shot."""
    s = ShotSampler("scene", 2, 2.0)
    for i in range(20000):
        s.offer(Candidate(i, i / 24, 1.0))
        assert len(s._scene) <= 4 * 2 + 1
    assert len(s.close(0, 19999)) == 2


def test_candidates_after_a_shot_end_carry_over():
    s = ShotSampler("scene", 1, 2.0)
    for i in range(100):
        s.offer(Candidate(i, i / 24, 1.0 if i != 70 else 5.0))
    first = s.close(0, 49)
    second = s.close(50, 99)
    assert len(first) == 1 and first[0].index < 50
    assert [p.index for p in second] == [70]


def test_hybrid_marks_frames_chosen_by_both_rules():
    s = ShotSampler("hybrid", 1, 2.0)
    for i in range(96):
        s.offer(Candidate(i, i / 24, 10.0 if i == 48 else 1.0))
    picks = {p.index: p.reason for p in s.close(0, 95)}
    assert picks[48] == "scene+interval"
    assert sum(r == "interval" for r in picks.values()) >= 2


def _shots():
    return pd.DataFrame({"film": "f", "shot_id": [0, 1, 2], "start_frame": [0, 144, 300],
                         "end_frame": [143, 299, 311], "start_time": [0.0, 6.0, 12.5],
                         "end_time": [143 / 24, 299 / 24, 311 / 24]})


def test_csv_is_identical_to_pyscenedetect_scene_list_on_cfr_input():
    """Our CSV is what PySceneDetect writes for the same scenes."""
    fps = 24.0
    scenes = [(FrameTimecode(a, fps), FrameTimecode(b, fps)) for a, b in [(0, 144), (144, 300), (300, 312)]]
    buf = io.StringIO()
    write_scene_list(buf, scenes, include_cut_list=False)
    assert shots_csv(_shots()).replace("\r\n", "\n") == buf.getvalue().replace("\r\n", "\n")


def test_json_lists_cuts_and_transitions():
    transitions = pd.DataFrame({"kind": ["cut", "dissolve"], "first": [144, 290], "last": [144, 310],
                                "boundary": [144, 300], "score": [30.0, 20.0]})
    data = shots_json("f", _shots(), transitions, {"fps": 24.0, "frame_count": 312})
    assert data["cuts"] == [144, 300]
    assert data["transitions"][1] == {"type": "dissolve", "first": 290, "last": 310, "boundary": 300}
    assert len(data["shots"]) == 3


def test_boundary_scoring_counts_each_match_once():
    ref = [(10, 10), (50, 70), (100, 100)]
    score = score_boundaries(ref, [10, 11, 60, 200], tolerance=2)
    assert (score.matched, score.reference, score.detected) == (2, 3, 4)
    assert score.precision == 0.5 and round(score.recall, 3) == 0.667
