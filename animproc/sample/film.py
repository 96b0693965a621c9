"""A short synthetic film with known answers: 3D-shaded characters, several shots, hard cuts, a fade
through black, a dissolve, a pan and a zoom, characters entering and leaving, and a dialogue track in
which each character speaks with its own voice while its mouth opens and closes with it (one line is spoken
off screen). The ground truth is written beside it, per speech turn too."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

from animproc.sample.voices import Voice, speak

W, H, FPS, SR = 640, 360, 24, 48000
WORLD_W, WORLD_H = 1920, 1080  # camera zoom 1.0 shows a 640x360 window of the world


@dataclass(frozen=True)
class Character:
    name: str
    body: tuple[int, int, int]  # BGR
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    eyes: tuple[int, int, int]
    hair_style: str  # cap | tall | none
    voice: Voice
    face_width: int = 80  # of a head FACE_H tall: faces differ in build as well as in colour
    eye_size: float = 1.0
    mouth_width: int = 17


CHARACTERS = (
    Character("ava", (40, 110, 235), (170, 200, 240), (30, 40, 170), (160, 110, 40), "cap", Voice(225, 1.18, 0.10, 4.8),
              face_width=72, eye_size=1.2, mouth_width=14),
    Character("bo", (200, 120, 40), (70, 110, 150), (20, 20, 20), (40, 70, 20), "none", Voice(105, 0.88, 0.05, 3.8, 4.0),
              face_width=88, eye_size=0.9, mouth_width=20),
    Character("cy", (80, 170, 60), (120, 160, 205), (150, 60, 140), (30, 30, 30), "tall", Voice(160, 1.02, 0.22, 5.6, 6.0)),
)
BY_NAME = {c.name: c for c in CHARACTERS}


def _shade_ellipsoid(h: int, w: int, color: tuple[int, int, int], light=(-0.5, -0.6, 0.62)) -> tuple[np.ndarray, np.ndarray]:
    """Lambert + Blinn specular shading of an ellipsoid seen front-on: (BGR float image, alpha)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    nx, ny = (xx - (w - 1) / 2) / (w / 2), (yy - (h - 1) / 2) / (h / 2)
    r2 = nx * nx + ny * ny
    alpha = np.clip((1 - r2) * max(w, h) / 4, 0, 1)
    nz = np.sqrt(np.clip(1 - r2, 0, 1))
    lv = np.asarray(light, np.float32) / np.linalg.norm(light)
    diffuse = np.clip(nx * lv[0] + ny * lv[1] + nz * lv[2], 0, 1)
    half = lv + np.array([0, 0, 1], np.float32)
    half /= np.linalg.norm(half)
    spec = np.clip(nx * half[0] + ny * half[1] + nz * half[2], 0, 1) ** 40
    base = np.asarray(color, np.float32)[None, None, :]
    img = base * (0.25 + 0.75 * diffuse[..., None]) + 255 * 0.35 * spec[..., None]
    return np.clip(img, 0, 255), alpha


def _paste(dst: np.ndarray, dst_a: np.ndarray, img: np.ndarray, a: np.ndarray, x: int, y: int) -> None:
    h, w = a.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(dst.shape[1], x + w), min(dst.shape[0], y + h)
    if x0 >= x1 or y0 >= y1:
        return
    sa = a[y0 - y:y1 - y, x0 - x:x1 - x, None]
    dst[y0:y1, x0:x1] = dst[y0:y1, x0:x1] * (1 - sa) + img[y0 - y:y1 - y, x0 - x:x1 - x] * sa
    dst_a[y0:y1, x0:x1] = np.maximum(dst_a[y0:y1, x0:x1], sa[..., 0])


SPRITE_H, SPRITE_W = 1000, 420
FACE_H = 125  # the head's height: the figure is 8 heads tall, like an adult in most 3D films
HEAD_TOP = 16  # the top of the head, sprite pixels below the sprite's top
FACE_TOP = 0.15  # the face box runs from the forehead (this share of the head down) to the chin, as face
# detectors box faces; the sample's scale labels are measured on it


@lru_cache(maxsize=16)
def character_sprite(name: str, mouth: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The whole character, SPRITE_H px tall: (BGR float, alpha, face box x0, y0, x1, y1, forehead to chin).
    `mouth` 0..3 is how open. A face with the structure real faces have (brows, shaded sockets, nose, lips, ears), so that face
    detectors trained on people find it as they find the faces of CG films."""
    c = BY_NAME[name]
    img = np.zeros((SPRITE_H, SPRITE_W, 3), np.float32)
    alpha = np.zeros((SPRITE_H, SPRITE_W), np.float32)
    cx, fw, fh = SPRITE_W // 2, c.face_width, FACE_H
    hx, hy = cx - fw // 2, HEAD_TOP
    trousers = tuple(int(v * 0.45) for v in c.body)
    for dx in (-48, 48):  # legs, then feet
        leg, la = _shade_ellipsoid(470, 86, trousers)
        _paste(img, alpha, leg, la, cx + dx - 43, 480)
        foot, fa = _shade_ellipsoid(44, 96, (35, 35, 40))
        _paste(img, alpha, foot, fa, cx + dx - 48 + (dx > 0) * 8, 950)
    for dx in (-128, 128):  # arms
        arm, aa = _shade_ellipsoid(340, 60, c.body)
        _paste(img, alpha, arm, aa, cx + dx - 30, 175)
        hand, ha = _shade_ellipsoid(50, 44, c.skin)
        _paste(img, alpha, hand, ha, cx + dx - 22, 500)
    torso, ta = _shade_ellipsoid(370, 230, c.body)
    _paste(img, alpha, torso, ta, cx - 115, 160)
    neck, na = _shade_ellipsoid(70, 50, tuple(int(v * 0.8) for v in c.skin))
    _paste(img, alpha, neck, na, cx - 25, hy + fh - 20)
    for ex in (hx - 11, hx + fw - 9):  # ears
        ear, ea = _shade_ellipsoid(36, 20, tuple(int(v * 0.9) for v in c.skin))
        _paste(img, alpha, ear, ea, ex, hy + 50)
    if c.hair_style == "tall":
        hair, hra = _shade_ellipsoid(110, 108, c.hair)
        _paste(img, alpha, hair, hra, hx - 4, hy - 16)
    head, ha = _shade_ellipsoid(fh, fw, c.skin, light=(-0.3, -0.4, 0.85))
    _paste(img, alpha, head, ha, hx, hy)
    if c.hair_style == "cap":
        hair, hra = _shade_ellipsoid(72, fw + 12, c.hair)
        hra[34:] = 0
        _paste(img, alpha, hair, hra, hx - 6, hy - 10)
    elif c.hair_style == "none":
        hair, hra = _shade_ellipsoid(64, fw + 4, c.hair)
        hra[27:] = 0
        _paste(img, alpha, hair, hra, hx - 2, hy - 3)
    canvas = img.astype(np.uint8).copy()
    k = fh / 175  # features drawn on a 175 px face, scaled
    p = lambda v: int(round(v * k))  # noqa: E731
    fx = hx + fw // 2
    ey = hy + int(fh * 0.45)
    dark = tuple(int(v * 0.55) for v in c.skin)
    for s in (-1, 1):
        ex = fx + s * int(fw * 0.22)
        e = c.eye_size
        cv2.ellipse(canvas, (ex, ey - p(2)), (p(17 * e), p(11 * e)), 0, 0, 360, dark, -1, cv2.LINE_AA)
        cv2.ellipse(canvas, (ex, ey), (p(12 * e), p(6 * e)), 0, 0, 360, (235, 235, 235), -1, cv2.LINE_AA)
        cv2.circle(canvas, (ex, ey), p(5 * e), c.eyes, -1, cv2.LINE_AA)
        cv2.circle(canvas, (ex, ey), max(1, p(2)), (10, 10, 10), -1, cv2.LINE_AA)
        cv2.ellipse(canvas, (ex, ey), (p(12 * e), p(6 * e)), 0, 180, 360, (30, 30, 30), 2, cv2.LINE_AA)
        cv2.ellipse(canvas, (ex, ey - p(14)), (p(15), p(5)), 0, 190, 350, (30, 35, 45), 2, cv2.LINE_AA)
    ny = hy + int(fh * 0.66)
    cv2.line(canvas, (fx - 2, ey + p(6)), (fx - p(6), ny - p(4)), dark, 2, cv2.LINE_AA)
    cv2.ellipse(canvas, (fx, ny), (p(11), p(5)), 0, 0, 180, dark, 2, cv2.LINE_AA)
    for s in (-1, 1):
        cv2.circle(canvas, (fx + s * p(5), ny), max(1, p(2)), (40, 40, 60), -1)
    my = hy + int(fh * 0.80)
    mw = p(c.mouth_width)
    cv2.ellipse(canvas, (fx, my), (mw, p(3) + p(4) * mouth), 0, 0, 360, (70, 70, 160), -1, cv2.LINE_AA)
    cv2.line(canvas, (fx - mw, my), (fx + mw, my), (40, 30, 70), 2, cv2.LINE_AA)
    return canvas.astype(np.float32), alpha, (hx, hy + round(FACE_TOP * fh), hx + fw, hy + fh)


def _background(seed: int, sky: tuple[int, int, int], ground: tuple[int, int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, WORLD_H, dtype=np.float32)[:, None, None]
    bg = np.asarray(sky, np.float32) * (0.55 + 0.45 * y) * np.ones((1, WORLD_W, 3), np.float32)
    x = np.arange(WORLD_W)
    horizon = (WORLD_H * 0.62 + 40 * np.sin(x / 170.0 + seed) + 25 * np.sin(x / 61.0)).astype(int)
    rows = np.arange(WORLD_H)[:, None]
    mask = rows >= horizon[None, :]
    depth = np.clip((rows - horizon[None, :]) / (WORLD_H * 0.4), 0, 1)[..., None]
    bg = np.where(mask[..., None], np.asarray(ground, np.float32) * (0.6 + 0.4 * depth), bg)
    for _ in range(14):  # shaded rocks and bushes for texture and parallax cues
        w, h = int(rng.integers(60, 200)), int(rng.integers(40, 140))
        img, a = _shade_ellipsoid(h, w, tuple(int(v) for v in rng.integers(40, 200, 3)))
        cx = int(rng.integers(0, WORLD_W - w))
        dummy = np.zeros(bg.shape[:2], np.float32)
        _paste(bg, dummy, img, a, cx, int(horizon[min(cx + w // 2, WORLD_W - 1)] - h * 0.6))
    noise = rng.normal(0, 4, (WORLD_H // 4, WORLD_W // 4, 3)).astype(np.float32)
    bg += cv2.resize(noise, (WORLD_W, WORLD_H), interpolation=cv2.INTER_LINEAR)
    return np.clip(bg, 0, 255)


@dataclass
class Placement:
    name: str
    x: Callable[[float], float]  # world x of the character's centre at shot time t
    height: float  # world pixels
    ground: float = WORLD_H * 0.92  # world y of the feet


@dataclass
class ShotSpec:
    start: float
    end: float
    scale: str
    camera: str
    background: int
    cam: Callable[[float], tuple[float, float, float]]  # t -> world centre x, y and zoom
    cast: list[Placement] = field(default_factory=list)


def _static(x: float, y: float, zoom: float):
    return lambda t: (x, y, zoom)


def _stand(name: str, x: Callable[[float], float], face_ratio: float, cam: tuple[float, float, float],
           head_top: float) -> Placement:
    """A character framed so that its face box is `face_ratio` of the picture height and the top of its head
    `head_top` of the way down the picture, with the camera at `cam` (centre x, y, zoom)."""
    _, cy, zoom = cam
    height = face_ratio * H / ((1 - FACE_TOP) * FACE_H / SPRITE_H) / zoom
    top = cy - H / zoom / 2 + head_top * H / zoom - HEAD_TOP * height / SPRITE_H
    return Placement(name, x, height, top + height)


def shot_list() -> list[ShotSpec]:
    """Each shot framed for its scale: the largest face's height / picture height well inside that scale's
    band of `FRAMINGS` (for the zoom, at the shot's middle)."""
    mid = WORLD_W / 2
    zoom_in = lambda t: (mid, 540, 0.8 * 1.08 ** t)  # noqa: E731
    wide = (mid, 600, 0.8)
    return [
        ShotSpec(0.0, 6.0, "medium", "static", 0, _static(mid, 540, 1.0),
                 [_stand("ava", lambda t: mid - 150, 0.235, (mid, 540, 1.0), 0.06),
                  _stand("bo", lambda t: mid + 150, 0.24, (mid, 540, 1.0), 0.05)]),
        ShotSpec(6.0, 11.0, "close_up", "static", 1, _static(mid, 540, 1.0),
                 [_stand("cy", lambda t: mid, 0.46, (mid, 540, 1.0), 0.1)]),
        ShotSpec(11.0, 18.0, "long", "pan_right", 2, lambda t: (660 + 75 * t, 640, 0.5),
                 [Placement("ava", lambda t: -150 + 160 * t, 390, 960), Placement("bo", lambda t: 1150 + 140 * t, 400, 950)]),
        ShotSpec(18.5, 26.0, "medium_close_up", "zoom_in", 3, zoom_in,
                 [_stand("bo", lambda t: mid, 0.32, zoom_in(3.75), 0.14)]),
        ShotSpec(25.0, 32.0, "medium", "static", 4, _static(mid, 540, 1.0),
                 [_stand("ava", lambda t: mid - 160, 0.235, (mid, 540, 1.0), 0.06),
                  _stand("cy", lambda t: mid + 160, 0.23, (mid, 540, 1.0), 0.04)]),
        ShotSpec(32.0, 38.0, "medium_long", "static", 0, _static(*wide),
                 [_stand("ava", lambda t: mid - 300, 0.12, wide, 0.08), _stand("bo", lambda t: mid, 0.125, wide, 0.07),
                  _stand("cy", lambda t: mid + 300, 0.12, wide, 0.09)]),
    ]


SPEECH = [("ava", 0.5, 2.6), ("bo", 3.1, 5.4), ("cy", 6.5, 9.8), ("ava", 12.0, 14.0), ("bo", 20.0, 23.2),
          ("ava", 26.6, 28.6), ("cy", 29.1, 31.4), ("bo", 32.8, 34.9), ("ava", 35.4, 37.3),
          ("cy", 23.6, 24.7)]  # the last: cy speaks off screen over bo's silent close shot
FADE_OUT, BLACK, FADE_IN, DISSOLVE = (17.0, 18.0), (18.0, 18.5), (18.5, 19.5), (25.0, 26.0)
DURATION = 38.0


def _layout(spec: ShotSpec, t: float) -> tuple[tuple[float, float, float], list[tuple[Placement, float, float, float]]]:
    """Where the camera looks at film time `t` ((x0, y0, zoom): the picture's world origin and scale) and, per
    cast member, (placement, sprite scale, left and top of its sprite in the picture)."""
    ts = t - spec.start
    cx, cy, zoom = spec.cam(ts)
    x0, y0 = cx - W / zoom / 2, cy - H / zoom / 2
    placed = []
    for p in spec.cast:
        scale = p.height / SPRITE_H * zoom
        placed.append((p, scale, (p.x(ts) - x0) * zoom - SPRITE_W * scale / 2, (p.ground - y0) * zoom - SPRITE_H * scale))
    return (x0, y0, zoom), placed


def _on_screen(placed: list) -> list[dict]:
    visible = []
    for p, scale, fx, fy in placed:
        face = character_sprite(p.name, 0)[2]
        box = [fx, fy, fx + SPRITE_W * scale, fy + SPRITE_H * scale]
        fbox = [fx + face[0] * scale, fy + face[1] * scale, fx + face[2] * scale, fy + face[3] * scale]
        clipped = [max(0, box[0]), max(0, box[1]), min(W, box[2]), min(H, box[3])]
        if clipped[2] - clipped[0] > 8 and clipped[3] - clipped[1] > 8:
            visible.append({"name": p.name, "bbox": [round(v, 1) for v in clipped],
                            "face_bbox": [round(v, 1) for v in fbox], "fully_visible": clipped == box})
    return visible


def _render_shot(spec: ShotSpec, t: float, backgrounds: dict, mouth: dict[str, int]) -> tuple[np.ndarray, list[dict]]:
    (x0, y0, zoom), placed = _layout(spec, t)
    # Scale the visible part of the background straight into the frame (cheap), then draw characters.
    m = np.float32([[zoom, 0, -x0 * zoom], [0, zoom, -y0 * zoom]])
    frame = cv2.warpAffine(backgrounds[spec.background], m, (W, H), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    alpha = np.zeros((H, W), np.float32)
    for p, scale, fx, fy in placed:
        img, a, _ = character_sprite(p.name, mouth.get(p.name, 0))
        if scale < 1:  # shrink the sprite (area-averaged), then paste it
            w, h = max(2, int(SPRITE_W * scale)), max(2, int(SPRITE_H * scale))
            _paste(frame, alpha, cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA),
                   cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA), int(fx), int(fy))
        else:  # enlarge straight into the picture: only what is on screen is interpolated
            m = np.float32([[scale, 0, fx], [0, scale, fy]])
            sa = cv2.warpAffine(a, m, (W, H), flags=cv2.INTER_LINEAR)[..., None]
            frame = frame * (1 - sa) + cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR) * sa
            alpha = np.maximum(alpha, sa[..., 0])
    return frame, _on_screen(placed)


def largest_face_ratio(spec: ShotSpec, t: float) -> float:
    """The tallest face box on screen at film time `t` (the part inside the picture) / picture height."""
    boxes = [c["face_bbox"] for c in _on_screen(_layout(spec, t)[1])]
    return max((min(H, b[3]) - max(0.0, b[1]) for b in boxes if b[2] > 0 and b[0] < W and b[3] > 0 and b[1] < H),
               default=0.0) / H


def _dialogue(duration: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    n = int(duration * SR)
    mix = np.zeros(n)
    envelopes = {c.name: np.zeros(n) for c in CHARACTERS}
    for k, (name, start, end) in enumerate(SPEECH):
        audio, env = speak(end - start, BY_NAME[name].voice, SR, seed=100 + k)
        a = int(start * SR)
        mix[a:a + len(audio)] += audio
        envelopes[name][a:a + len(env)] = env
    rng = np.random.default_rng(7)
    mix += rng.normal(0, 0.003, n)  # room tone
    return np.clip(mix, -1, 1).astype(np.float32), envelopes


def speech_turns(on_screen: list[dict]) -> list[dict]:
    """The truth per speech turn, in time order: who speaks and whether the speaker's face is on screen for
    most of the turn (an off-screen voice otherwise)."""
    turns = []
    for k, (name, start, end) in enumerate(sorted(SPEECH, key=lambda s: s[1])):
        frames = on_screen[_frame_index(start):_frame_index(end)]
        seen = sum(any(c["name"] == name for c in f["characters"]) for f in frames)
        turns.append({"turn_id": k, "speaker": name, "start": start, "end": end,
                      "on_screen": seen >= len(frames) / 2})
    return turns


def _frame_index(t: float) -> int:
    return int(round(t * FPS))


# The sample's own framing convention for a figure about 8 heads tall, in face heights the picture spans (its
# height / the face box's): the face fills it, head and shoulders, chest up, waist up, knees up to the whole
# figure, a small whole figure; beyond the last, extreme long. The truth is labelled by this rule alone, so it
# never follows the analysis code it checks.
FRAMINGS = (("extreme_close_up", 1.25), ("close_up", 2.8), ("medium_close_up", 3.8), ("medium", 5.5),
            ("medium_long", 12.0), ("long", 40.0))


def framing_of(face_ratio: float) -> str:
    """The scale a face `face_ratio` of the picture height is framed at, by the sample's convention."""
    spans = 1 / face_ratio if face_ratio > 0 else float("inf")
    return next((name for name, most in FRAMINGS if spans < most), "extreme_long")


def shot_face_ratio(spec: ShotSpec, start: int, end: int) -> float:
    """The shot's scale measure: the median over its frames of the largest face's height / picture height, as
    rendered. A framing that drifts out of the scale the shot is meant to have is refused here rather than
    written as truth."""
    times = [i / FPS for i in range(start, end + 1) if spec.start <= i / FPS < spec.end]
    ratio = float(np.median([largest_face_ratio(spec, t) for t in times]))
    if framing_of(ratio) != spec.scale:
        raise ValueError(f"sample shot at {spec.start}s is framed {framing_of(ratio)} (face ratio {ratio:.3f}), "
                         f"not {spec.scale}")
    return ratio


def _shot_truth(shot_id: int, start: int, end: int, spec: ShotSpec) -> dict:
    ratio = shot_face_ratio(spec, start, end)
    return {"shot_id": shot_id, "start_frame": start, "end_frame": end, "scale": framing_of(ratio),
            "face_height_ratio": round(ratio, 4), "camera": spec.camera, "characters": [p.name for p in spec.cast]}


def ground_truth() -> dict:
    shots = shot_list()
    fo, bl, fi, dv = [tuple(_frame_index(t) for t in r) for r in (FADE_OUT, BLACK, FADE_IN, DISSOLVE)]
    boundaries = [_frame_index(6.0), _frame_index(11.0), fi[0], (dv[0] + dv[1]) // 2, _frame_index(32.0)]
    starts = [0] + boundaries
    ends = [b - 1 for b in boundaries] + [_frame_index(DURATION) - 1]
    return {
        "fps": FPS, "width": W, "height": H, "frame_count": _frame_index(DURATION), "duration": DURATION,
        "sample_rate": SR,
        "characters": [{"name": c.name, "body_bgr": c.body, "hair_style": c.hair_style,
                        "voice": {"f0": c.voice.f0, "tract": c.voice.tract, "breath": c.voice.breath}} for c in CHARACTERS],
        "cuts": boundaries,
        "transitions": [
            {"kind": "cut", "first": boundaries[0], "last": boundaries[0], "boundary": boundaries[0]},
            {"kind": "cut", "first": boundaries[1], "last": boundaries[1], "boundary": boundaries[1]},
            {"kind": "fade_out", "first": fo[0], "last": fo[1], "boundary": None},
            {"kind": "fade_in", "first": fi[0] - 1, "last": fi[1], "boundary": fi[0]},
            {"kind": "dissolve", "first": dv[0], "last": dv[1] - 1, "boundary": boundaries[3]},
            {"kind": "cut", "first": boundaries[4], "last": boundaries[4], "boundary": boundaries[4]},
        ],
        "black_frames": [bl[0], bl[1] - 1],
        "shots": [_shot_truth(i, s, e, spec) for i, (s, e, spec) in enumerate(zip(starts, ends, shots))],
        "speech": [{"speaker": n, "start": s, "end": e} for n, s, e in SPEECH],
    }


def render_sample_film(out: str | Path) -> dict:
    """Write the film to `out` (mp4) and its ground truth to `out` with `.truth.json` and `.rttm`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    truth = ground_truth()
    shots = shot_list()
    backgrounds = {i: _background(i, sky, ground) for i, (sky, ground) in enumerate(
        [((235, 200, 150), (60, 140, 90)), ((200, 180, 230), (90, 110, 160)), ((240, 210, 170), (70, 160, 200)),
         ((180, 200, 240), (60, 100, 150)), ((230, 190, 200), (100, 150, 80))])}
    audio, envelopes = _dialogue(DURATION)
    on_screen = []
    tmp = out.with_name(f".{out.name}.part.mp4")
    with av.open(str(tmp), "w") as container:
        vs = container.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"crf": "18", "preset": "fast"}
        as_ = container.add_stream("aac", rate=SR)
        as_.layout = "stereo"
        for i in range(truth["frame_count"]):
            t = i / FPS
            sample = min(int(t * SR), len(audio) - 1)
            mouth = {n: int(min(3, e[sample:sample + SR // FPS].mean() * 4)) for n, e in envelopes.items()}
            active = [s for s in shots if s.start <= t < s.end]
            frame, visible = _render_shot(active[0], t, backgrounds, mouth) if active else (np.zeros((H, W, 3)), [])
            if len(active) > 1:  # the dissolve
                other, vis2 = _render_shot(active[1], t, backgrounds, mouth)
                k = (t - DISSOLVE[0]) / (DISSOLVE[1] - DISSOLVE[0])
                frame = frame * (1 - k) + other * k
                visible = vis2 if k >= 0.5 else visible
            if FADE_OUT[0] <= t < FADE_OUT[1]:
                frame = frame * (1 - (t - FADE_OUT[0]) / (FADE_OUT[1] - FADE_OUT[0]))
            elif BLACK[0] <= t < BLACK[1]:
                frame, visible = frame * 0, []
            elif FADE_IN[0] <= t < FADE_IN[1]:
                frame = frame * ((t - FADE_IN[0]) / (FADE_IN[1] - FADE_IN[0]))
            on_screen.append({"frame": i, "characters": [{**c, "mouth": mouth[c["name"]]} for c in visible]})
            vf = av.VideoFrame.from_ndarray(np.clip(frame, 0, 255).astype(np.uint8), format="bgr24")
            for packet in vs.encode(vf):
                container.mux(packet)
        for packet in vs.encode():
            container.mux(packet)
        stereo = np.stack([audio, audio])
        for k in range(0, stereo.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, k:k + 1024]), format="fltp", layout="stereo")
            af.sample_rate = SR
            af.pts = k
            af.time_base = Fraction(1, SR)
            for packet in as_.encode(af):
                container.mux(packet)
        for packet in as_.encode():
            container.mux(packet)
    tmp.replace(out)
    truth["on_screen"] = on_screen
    truth["turns"] = speech_turns(on_screen)
    truth["film"] = out.name
    out.with_suffix(".truth.json").write_text(json.dumps(truth, indent=1))
    rttm = "".join(f"SPEAKER {out.stem} 1 {s:.3f} {e - s:.3f} <NA> <NA> {n} <NA> <NA>\n" for n, s, e in SPEECH)
    out.with_suffix(".rttm").write_text(rttm)
    return truth
