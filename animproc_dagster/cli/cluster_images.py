"""`animproc cluster-images`: face analysis and identity clustering on a plain folder of images."""
from __future__ import annotations

import json
from pathlib import Path

from animproc_dagster.cli.common import _fail


def _face_analyzer(backend: str | None):
    from resources.face_analyzer import FaceAnalyzerResource

    return FaceAnalyzerResource(**({"backend": backend} if backend else {})).model()


def cmd_cluster_images(args) -> int:
    from animproc.errors import AnimprocError
    from animproc.identity.images import cluster_images

    folder = Path(args.folder)
    if not folder.is_dir():
        return _fail(f"{folder}: not a folder")
    try:
        result = cluster_images(folder, _face_analyzer(args.backend), args.min_cluster_size, args.min_samples,
                                args.selection_method, None if args.reduce == 0 else args.reduce, args.epsilon)
    except AnimprocError as exc:
        return _fail(str(exc))
    text = json.dumps(result, indent=1)
    output = Path(args.output) if args.output else folder / "identity_clusters.json"
    output.write_text(text)
    sizes = ", ".join(f"{c}: {v['size']}" for c, v in result["clusters"].items()) or "none"
    noise = sum(1 for faces in result["images"].values() for f in faces if f["cluster"] == -1)
    print(f"{result['faces']} faces in {len(result['images'])} images; clusters (faces each) {sizes}; noise {noise}")
    if result["unreadable"]:
        print(f"  unreadable images skipped: {', '.join(result['unreadable'])}")
    print(f"  assignment written to {output}")
    return 0
