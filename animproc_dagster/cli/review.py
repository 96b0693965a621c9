"""`animproc review`: serve the local review page of a film's review gate."""
from __future__ import annotations

from animproc_dagster.cli.common import _fail, _storage


def cmd_review(args) -> int:
    from animproc.errors import AnimprocError
    from animproc.films import validate_film_key
    from animproc.review.server import ReviewServer
    from animproc.review.sources import identities_source, instances_source

    try:
        validate_film_key(args.name)
        st = _storage()
        if not st.film_dir(args.name).exists():
            return _fail(f"no film named {args.name!r}; add it with `animproc film add {args.name} PATH`")
        makers = {"instances": instances_source, "identities": identities_source}
        # the asked-for gate first (the root leads there); the others are served when they have something
        sources = [makers[args.kind](st, args.name)] + [m(st, args.name) for k, m in makers.items() if k != args.kind]
        server = ReviewServer(st, args.name, sources, args.host, args.port)
    except AnimprocError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc}")
    others = ", ".join(server.url_for(s) for s in server.sources if s != args.kind and server.ready(s))
    print(f"reviewing the {args.kind} of {args.name!r} at {server.url_for(args.kind)}  (Ctrl+C to stop)")
    if others:
        print(f"  the same server also serves {others}")
    print(f"  decisions are saved to {st.film_dir(args.name) / 'reviews' / (args.kind + '.json')}; press "
          f"'Finish review' and the review sensor (or `animproc run {args.name}`) runs what follows")
    if args.open:
        import webbrowser

        webbrowser.open(server.url_for(args.kind))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
