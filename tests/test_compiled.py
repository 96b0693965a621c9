"""UMAP's numba functions are compiled with numba's on-disk cache, and numba's decorators are left as found."""
import numba
from numba.core.caching import NullCache

from animproc.compiled import _numba_caching


def test_functions_decorated_during_the_import_are_cached_on_disk():
    with _numba_caching():
        @numba.njit
        def twice(x):
            return 2 * x

        @numba.njit(fastmath=True)
        def thrice(x):
            return 3 * x

    assert not isinstance(twice._cache, NullCache) and not isinstance(thrice._cache, NullCache)
    assert twice(2) == 4 and thrice(2) == 6


def test_numba_decorators_are_restored_after_the_import():
    originals = numba.jit, numba.njit
    try:
        with _numba_caching():
            raise RuntimeError("import failed")
    except RuntimeError:
        pass
    assert (numba.jit, numba.njit) == originals

    @numba.njit
    def plain(x):
        return x

    assert isinstance(plain._cache, NullCache)
