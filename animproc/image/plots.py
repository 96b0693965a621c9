"""The figures shown in the UI's asset metadata (PNG bytes), built with matplotlib off-screen."""
from __future__ import annotations

import numpy as np
import pandas as pd

from animproc.image.preview import figure_png


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def transitions_timeline(transitions, shots, fps: float, frame_count: int) -> bytes:
    """Transitions over the film's time and a histogram of shot lengths (`transitions`: objects with kind,
    first, last; `shots`: with start_frame, end_frame)."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 3.2))
    colours = {"cut": "black", "fade_in": "tab:blue", "fade_out": "tab:purple", "dissolve": "tab:orange"}
    for t in transitions:
        ax1.axvspan(t.first / fps, (t.last + 1) / fps, color=colours.get(t.kind, "grey"), alpha=0.8)
    ax1.set_yticks([])
    ax1.set_xlim(0, frame_count / max(fps, 1e-9))
    ax1.set_title("transitions (black: cut, blue/purple: fades, orange: dissolve)", fontsize=8)
    lengths = [(s.end_frame - s.start_frame + 1) / fps for s in shots]
    ax2.hist(lengths, bins=min(30, max(5, len(lengths))), color="tab:green")
    ax2.set_xlabel("shot length (s)", fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


def face_projection(vectors: np.ndarray, labels: np.ndarray, names: dict[int, str] | None = None
                    ) -> tuple[bytes, str]:
    """2-D UMAP of the faces coloured by cluster (PCA when there are too few faces for UMAP), with a legend
    naming every cluster (`names`, else its number) and its size; at most 5000 faces, drawn at random, so
    the plot costs the same for any film."""
    if len(vectors) > 5000:
        pick = np.random.default_rng(0).choice(len(vectors), 5000, replace=False)
        vectors, labels = vectors[pick], labels[pick]
    if len(vectors) >= 15:
        from animproc.compiled import umap_module

        xy = umap_module().UMAP(n_neighbors=min(15, len(vectors) - 1), metric="cosine", random_state=0).fit_transform(vectors)
        method = "UMAP"
    else:
        from sklearn.decomposition import PCA

        xy = PCA(2).fit_transform(vectors) if len(vectors) >= 2 else np.zeros((len(vectors), 2))
        method = "PCA"
    return figure_png(projection_figure(xy, labels, names or {}, method)), method


def projection_figure(xy: np.ndarray, labels: np.ndarray, names: dict[int, str], method: str):
    """The faces' 2-D points, one colour and one legend entry "name (size)" per cluster, noise in grey as
    "noise (size)"; the legend sits beside the plot, in columns when there are many clusters."""
    plt = _pyplot()
    labels = np.asarray(labels)
    clusters = sorted(int(c) for c in set(labels.tolist()) if c >= 0)
    fig, ax = plt.subplots(figsize=(5, 4))
    if (labels < 0).any():
        ax.scatter(xy[labels < 0, 0], xy[labels < 0, 1], c="0.45", marker="x", s=8, linewidths=0.6,
                   label=f"noise ({int((labels < 0).sum())})")
    cmap = plt.get_cmap("tab20")
    for k, c in enumerate(clusters):
        here = labels == c
        ax.scatter(xy[here, 0], xy[here, 1], color=cmap(k % 20), s=12,
                   label=f"{names.get(c, c)} ({int(here.sum())})")
    if len(labels):
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1), ncol=1 + len(clusters) // 24,
                  markerscale=1.5, frameon=False)
    ax.set_title(f"faces ({method}), coloured by cluster", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def structure_timeline(table: pd.DataFrame, duration: float) -> bytes:
    """Each shot as a bar on its scale's row, coloured by scene."""
    from animproc.temporal.structure import SCALES

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 2.4))
    levels = {s: i for i, s in enumerate((*SCALES, "no_subject"))}
    for r in table.itertuples():
        ax.barh(levels[r.scale], r.end_time - r.start_time, left=r.start_time, height=0.8,
                color=f"C{int(r.scene_id) % 10}")
    ax.set_yticks(range(len(levels)), list(levels), fontsize=6)
    ax.set_xlim(0, duration)
    ax.set_xlabel("seconds (colour: scene)", fontsize=7)
    ax.invert_yaxis()
    fig.tight_layout()
    return figure_png(fig)


def action_timeline(tracks: pd.DataFrame, actions: pd.DataFrame, most: int = 40) -> bytes:
    """One row per track (its label or id), its action segments as coloured bars over the film's time."""
    from animproc.temporal.actions import ACTIONS

    plt = _pyplot()
    shown = list(tracks["track_id"])[:most]
    colour = {a: f"C{i}" for i, a in enumerate(ACTIONS)}
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.22 * len(shown)))
    for row, track_id in enumerate(shown):
        for a in actions[actions["track_id"] == track_id].itertuples():
            ax.barh(row, a.end_time - a.start_time, left=a.start_time, height=0.7, color=colour.get(a.action, "grey"))
    labels = tracks.set_index("track_id")["label"].to_dict()
    ax.set_yticks(range(len(shown)), [f"{t} {labels.get(t) or ''}" for t in shown], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("seconds", fontsize=7)
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in colour.values()], labels=list(colour),
              fontsize=6, ncol=4, loc="upper right")
    fig.tight_layout()
    return figure_png(fig)


def speaker_timeline(segments: pd.DataFrame, duration: float) -> bytes:
    """Who speaks when: one row of segments per speaker."""
    plt = _pyplot()
    speakers = sorted(segments["speaker"].unique())
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.35 * len(speakers)))
    for k, spk in enumerate(speakers):
        rows = segments[segments["speaker"] == spk]
        ax.broken_barh(list(zip(rows["start"], rows["end"] - rows["start"])), (k - 0.4, 0.8))
    ax.set_yticks(range(len(speakers)), speakers, fontsize=7)
    ax.set_xlim(0, duration)
    ax.set_xlabel("seconds", fontsize=8)
    return figure_png(fig)


def voice_feature_bars(table: pd.DataFrame) -> bytes:
    """Per speaker: F0, speaking rate and arousal side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.6))
    names = table["speaker"].tolist()
    axes[0].barh(names, table["f0_median_hz"], xerr=table["f0_std_hz"], color="tab:blue")
    axes[0].set_title("F0 median ± sd (Hz)", fontsize=8)
    axes[1].barh(names, table["speaking_rate_syllables_per_s"], color="tab:green")
    axes[1].set_title("speaking rate (syll/s)", fontsize=8)
    axes[2].barh(names, table["arousal"], color="tab:red")
    axes[2].set_xlim(0, 1)
    axes[2].set_title("arousal (heuristic, 0-1)", fontsize=8)
    for ax in axes:
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return figure_png(fig)
