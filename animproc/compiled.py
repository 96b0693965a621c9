"""UMAP with its compiled code cached on disk. umap-learn JIT-compiles a few dozen numba functions (without
numba's `cache=True`) on its import and first fit: about 30 s of CPU in every process that projects faces or
poses, for the same machine code each time. Imported through `umap_module()` its functions are compiled once
and reloaded from numba's cache afterwards (numba re-compiles when umap's source or the CPU changes)."""
from __future__ import annotations

from contextlib import contextmanager
from types import ModuleType


@contextmanager
def _numba_caching():
    """numba.jit / numba.njit default to `cache=True` while a module is imported (its decorators run then)."""
    import numba

    originals = numba.jit, numba.njit

    def caching(decorator):
        def wrapped(*args, **kwargs):
            kwargs.setdefault("cache", True)
            return decorator(*args, **kwargs)
        return wrapped

    numba.jit, numba.njit = caching(originals[0]), caching(originals[1])
    try:
        yield
    finally:
        numba.jit, numba.njit = originals


def umap_module() -> ModuleType:
    """`umap`, imported on first use (slow) with numba's on-disk cache for its functions."""
    import sys

    if "umap" not in sys.modules:
        with _numba_caching():
            import umap  # noqa: F401
    return sys.modules["umap"]
