"""`animproc film add|list|remove`: register, list and unregister films."""
from __future__ import annotations

from animproc_dagster.cli.common import _fail, _instance, _storage


def cmd_film_add(args) -> int:
    from animproc.library import store_source
    from partitions import add_film, films

    instance = _instance()
    if args.name in films(instance) and not args.replace:
        return _fail(f"film {args.name!r} already exists; use --replace to store new media under it")
    info = store_source(_storage(), args.name, args.path)
    add_film(instance, args.name)
    vfr = " (variable frame rate)" if info.vfr else ""
    audio = ", ".join(f"{a.codec} {a.layout or a.channels}" for a in info.audio) or "no audio"
    print(f"added film {args.name!r}: {info.width}x{info.height} {info.video_codec}, {info.fps:g} fps{vfr}, "
          f"{info.frame_count} frames, {info.duration_s:.1f} s, audio: {audio}")
    print(f"  stored under {_storage().film_dir(args.name)}; materialise with `animproc run {args.name}`")
    return 0


def cmd_film_list(args) -> int:
    from animproc.library import film_record
    from partitions import films

    names = films(_instance())
    if not names:
        print("no films; add one with `animproc film add NAME PATH`")
    st = _storage()
    for name in names:
        rec = film_record(st, name) or {}
        probe = rec.get("probe", {})
        print(f"{name}\t{probe.get('duration_s', 0):.1f} s\t{probe.get('width')}x{probe.get('height')}\t"
              f"{rec.get('original_path', '(source missing)')}")
    return 0


def cmd_film_remove(args) -> int:
    from partitions import films, remove_film

    instance = _instance()
    if args.name not in films(instance):
        return _fail(f"no film named {args.name!r}")
    remove_film(instance, args.name)
    st = _storage()
    if args.purge:
        st.remove_tree(st.film_dir(args.name))
        print(f"removed film {args.name!r} and deleted its outputs under {st.film_dir(args.name)}")
    else:
        print(f"removed film {args.name!r} from the partitions; its outputs stay under {st.film_dir(args.name)} "
              f"(run history too). Add it again to reuse them, or remove with --purge to delete them.")
    return 0
