"""Small previews for asset metadata: contact sheets and plots as inline images."""
from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import cv2
import numpy as np


def contact_sheet(images: Sequence[np.ndarray], labels: Sequence[str] | None = None, columns: int = 6,
                  thumb_width: int = 200) -> np.ndarray:
    """BGR images tiled in a grid, each scaled to `thumb_width` and labelled in its corner."""
    if not images:
        return np.zeros((thumb_width * 9 // 16, thumb_width, 3), np.uint8)
    thumbs = []
    for k, img in enumerate(images):
        h, w = img.shape[:2]
        t = cv2.resize(img, (thumb_width, max(1, round(h * thumb_width / w))), interpolation=cv2.INTER_AREA)
        if labels:
            cv2.putText(t, labels[k], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(t, labels[k], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        thumbs.append(t)
    cell_h = max(t.shape[0] for t in thumbs)
    rows = []
    for r in range(0, len(thumbs), columns):
        row = [np.pad(t, ((0, cell_h - t.shape[0]), (0, 0), (0, 0))) for t in thumbs[r:r + columns]]
        row += [np.zeros((cell_h, thumb_width, 3), np.uint8)] * (columns - len(row))
        rows.append(np.hstack(row))
    return np.vstack(rows)


def read_image(path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An image file under the storage root (local or remote path object), decoded by OpenCV."""
    from animproc.errors import MediaError

    img = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), flags)
    if img is None:
        raise MediaError(path, "image cannot be decoded")
    return img


def encode_image(image_bgr: np.ndarray, ext: str = ".jpg", quality: int = 85) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, image_bgr, params)
    if not ok:
        raise ValueError("could not encode preview image")
    return buf.tobytes()


def markdown_image(data: bytes, mime: str = "image/jpeg", alt: str = "preview") -> str:
    return f"![{alt}](data:{mime};base64,{base64.b64encode(data).decode()})"


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def markdown_table(df) -> str:
    """A small pandas table as Markdown (metadata previews)."""
    if df.empty:
        return "(empty)"
    rows = [" | ".join(map(str, df.columns)), " | ".join("---" for _ in df.columns)]
    rows += [" | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) for r in df.itertuples(index=False)]
    return "\n".join(rows)


def on_checkerboard(bgra: np.ndarray, cell: int = 8) -> np.ndarray:
    """A cutout composited over a grey checkerboard, so its transparency shows in a contact sheet."""
    h, w = bgra.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // cell + xx // cell) % 2)[..., None] == 0, 150, 100).astype(np.float32)
    a = bgra[..., 3:4].astype(np.float32) / 255
    return (bgra[..., :3] * a + board * (1 - a)).astype(np.uint8)


def spread_sheet(count: int, read, label, limit: int = 24, thumb_width: int = 160) -> bytes | None:
    """A JPEG contact sheet of up to `limit` of `count` items spread evenly over them (`read(i)` gives item i's
    image, `label(i)` its caption); None when there is nothing to show."""
    if not count:
        return None
    picks = np.linspace(0, count - 1, min(limit, count)).astype(int)
    return encode_image(contact_sheet([read(int(i)) for i in picks], [label(int(i)) for i in picks],
                                      thumb_width=thumb_width))


def fit_cell(image: np.ndarray, size: int) -> np.ndarray:
    """An image (BGR, or BGRA shown over a flat grey) scaled to fit a `size` x `size` cell, centred on black,
    so a sheet's cells are one size whatever the crops' shapes (a flat backing, not a checkerboard, keeps the
    thumbnails' JPEG small)."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = image.shape[:2]
    s = size / max(h, w)
    t = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    if t.shape[2] == 4:
        a = t[..., 3:4].astype(np.float32) / 255
        t = (t[..., :3] * a + 110 * (1 - a)).astype(np.uint8)
    cell = np.zeros((size, size, 3), np.uint8)
    y, x = (size - t.shape[0]) // 2, (size - t.shape[1]) // 2
    cell[y:y + t.shape[0], x:x + t.shape[1]] = t
    return cell


CAPTION_HEIGHT = 14


def fitted_text(text: str, width: int, keep_tail: int = 0) -> tuple[str, float]:
    """`text` and a font scale at which it fits `width` pixels: smaller type first, then the text shortened in
    its middle with ".." (the last `keep_tail` characters, e.g. a count, are always kept)."""
    for scale in (0.4, 0.35, 0.3):
        if cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] <= width:
            return text, scale
    head, tail = text[:len(text) - keep_tail], text[len(text) - keep_tail:]
    while head and cv2.getTextSize(head + ".." + tail, cv2.FONT_HERSHEY_SIMPLEX, 0.3, 1)[0][0] > width:
        head = head[:-1]
    return head + ".." + tail, 0.3


def caption_band(text: str, width: int, keep_tail: int = 0, height: int = CAPTION_HEIGHT) -> np.ndarray:
    """A dark strip `width` wide with `text` in white, fitted to it (see `fitted_text`)."""
    band = np.full((height, width, 3), 32, np.uint8)
    shown, scale = fitted_text(text, width - 4, keep_tail)
    cv2.putText(band, shown, (2, height - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return band
