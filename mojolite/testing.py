"""Helpers for property-testing kernels against NumPy with hypothesis.

    from hypothesis import given
    from mojolite.testing import arrays, assert_close

    @given(arrays("f32", ndim=1))
    def test_double(x):
        out = np.empty_like(x)
        double(x, out)
        assert_close(out, 2 * x.astype(np.float64), "f32")

Owns: strategies for arrays of every mojolite dtype (bf16 included), of any
shape, as contiguous arrays or strided views (steps, reversed axes,
transposes); and `assert_close`, which applies per-dtype tolerances:

| dtype | tolerance |
| --- | --- |
| bool and integers | exact |
| f64 | rtol 1e-12 |
| f32 | rtol 1e-5 |
| bf16 | the reference is rounded to bf16 first; then 1 bf16 ulp (rtol 2**-7) |
| sums of `terms` values | also atol = terms x eps(dtype) x `scale` (the largest |term|) |

Needs hypothesis (the `test` extra).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .dtypes import DTYPES, DType

RTOL = {"f64": 1e-12, "f32": 1e-5, "bf16": 2.0 ** -7}
EPS = {"f64": 2.0 ** -52, "f32": 2.0 ** -23, "bf16": 2.0 ** -7}


def _dtype(d) -> DType:
    if isinstance(d, DType):
        return d
    if isinstance(d, str) and d in DTYPES:
        return DTYPES[d]
    from .dtypes import from_numpy
    found = from_numpy(d)
    if found is None:
        raise TypeError(f"{d!r} is not a mojolite dtype")
    return found


def dtypes(kinds: str = "biuf") -> st.SearchStrategy[DType]:
    """One of mojolite's dtypes, of the given kinds (b: bool, i/u: integers, f: floats)."""
    return st.sampled_from([d for d in DTYPES.values() if d.kind in kinds])


def elements(dtype, *, allow_nan: bool = False, allow_infinity: bool = False,
             min_value=None, max_value=None) -> st.SearchStrategy:
    """Scalars of `dtype` as NumPy scalars; floats include subnormals."""
    d = _dtype(dtype)
    if d.name == "bf16":            # hypothesis has no bfloat16: draw f32 and round
        return st.floats(min_value=min_value, max_value=max_value, width=32, allow_nan=allow_nan,
                         allow_infinity=allow_infinity).map(lambda v: d.numpy.type(v)).filter(
            lambda v: allow_infinity or np.isfinite(np.float32(v)))
    return hnp.from_dtype(d.numpy, allow_nan=allow_nan, allow_infinity=allow_infinity,
                          min_value=min_value, max_value=max_value)


@st.composite
def arrays(draw, dtype, *, ndim: int | None = None, min_side: int = 0, max_side: int = 33,
           strided: bool = True, elements_strategy=None, **element_options) -> np.ndarray:
    """An array of `dtype`: contiguous, or (when `strided`) a view with steps, reversals or a transpose."""
    d = _dtype(dtype)
    nd = draw(st.integers(1, 3)) if ndim is None else ndim
    shape = draw(st.tuples(*[st.integers(min_side, max_side)] * nd))
    elems = elements_strategy or elements(d, **element_options)
    view = draw(st.sampled_from(["contiguous", "steps", "reversed", "transposed"])) if strided else "contiguous"
    steps = tuple(draw(st.integers(1, 3)) if view == "steps" else 1 for _ in shape)
    base_shape = tuple(max(n * s, 0) for n, s in zip(shape, steps))
    if view == "transposed":
        base_shape = base_shape[::-1]
    size = int(np.prod(base_shape)) if base_shape else 1
    flat = draw(st.lists(elems, min_size=size, max_size=size))
    base = np.array(flat, dtype=d.numpy).reshape(base_shape)
    if view == "transposed":
        return base.T
    if view == "reversed":
        return base[(slice(None, None, -1),) * nd]
    return base[tuple(slice(None, None, s) for s in steps)]


def assert_close(actual, expected, dtype=None, *, terms: int = 0, scale: float | None = None,
                 err_msg: str = "") -> None:
    """Compare a kernel's result with a NumPy reference, within the tolerance of `dtype`.

    `expected` may be computed in higher precision (f64); it is rounded to bf16
    first for bf16.  For sums, pass the number of `terms` (and the largest term's
    magnitude as `scale`, default: the largest |expected|).
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    d = _dtype(dtype if dtype is not None else actual.dtype)
    if actual.shape != expected.shape:
        raise AssertionError(f"shapes differ: {actual.shape} != {expected.shape}. {err_msg}")
    if not d.is_float:                       # exact: a reference of 2.7 or 300 is no 2 or 44
        np.testing.assert_array_equal(actual, expected, err_msg=err_msg)
        return
    if d.name == "bf16":
        expected = expected.astype(d.numpy)
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    atol = 0.0
    if terms:
        mag = scale if scale is not None else (float(np.max(np.abs(e[np.isfinite(e)]), initial=0.0)))
        atol = terms * EPS[d.name] * mag
    np.testing.assert_allclose(a, e, rtol=RTOL[d.name], atol=atol, equal_nan=True,
                               err_msg=f"dtype {d}. {err_msg}")
