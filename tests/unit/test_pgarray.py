"""``pgarray.float8_rows``: PostgreSQL's binary array format (``array_send``) read back as
PL/Python would pass the array -- nested lists, NULL as None -- or, for a large 2-D array
without NULLs, as a numpy matrix (nyop_solve_mckp's fast path, issue 16). The bytes are
written here by hand, after PostgreSQL's array_send; tests/test_mckp_sql.py checks the
server's own bytes against PL/Python's own conversion."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from nyop_server import pgarray


def send(values, dims, oid=701):
    """array_send of a float8 array with these dimension sizes (row-major values, None = NULL)."""
    out = struct.pack(">iiI", len(dims), int(any(v is None for v in values)), oid)
    out += b"".join(struct.pack(">ii", d, 1) for d in dims)
    for v in values:
        out += struct.pack(">i", -1) if v is None else struct.pack(">id", 8, v)
    return out


def test_none_and_empty():
    assert pgarray.float8_rows(None) is None
    assert pgarray.float8_rows(send([], [])) == []


def test_small_two_dimensional_as_lists():
    rows = pgarray.float8_rows(send([1.0, 2.5, -3.0, 4.0, 0.0, 1e300], [3, 2]))
    assert rows == [[1.0, 2.5], [-3.0, 4.0], [0.0, 1e300]] and type(rows[0][0]) is float


def test_one_and_three_dimensional_as_lists():
    assert pgarray.float8_rows(send([1.0, 2.0, 3.0], [3])) == [1.0, 2.0, 3.0]
    assert pgarray.float8_rows(send([float(k) for k in range(8)], [2, 2, 2])) == \
        [[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]]


def test_nulls_as_none():
    assert pgarray.float8_rows(send([None, 1.0, 2.0, None], [2, 2])) == [[None, 1.0], [2.0, None]]
    big = [float(k) for k in range(300)]
    big[299] = None
    rows = pgarray.float8_rows(send(big, [3, 100]))
    assert isinstance(rows, list) and rows[2][99] is None and rows[1][0] == 100.0


def test_special_values():
    rows = pgarray.float8_rows(send([math.inf, -math.inf, math.nan, -0.0], [2, 2]))
    assert rows[0] == [math.inf, -math.inf] and math.isnan(rows[1][0]) and math.copysign(1, rows[1][1]) < 0


@pytest.mark.parametrize("n, m", [(1, pgarray.NUMPY_FROM), (pgarray.NUMPY_FROM, 1), (100, 100), (16, 17)])
def test_large_two_dimensional_as_matrix(n, m):
    rng = np.random.default_rng(n * m)
    A = rng.normal(size=(n, m)) * 10.0 ** rng.integers(-5, 5, size=(n, m))
    got = pgarray.float8_rows(send(A.ravel().tolist(), [n, m]))
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (n, m)
    assert got.flags.c_contiguous and got.flags.writeable
    assert np.array_equal(got, A)


def test_just_below_the_numpy_size_stays_lists():
    got = pgarray.float8_rows(send([1.0] * (pgarray.NUMPY_FROM - 1), [1, pgarray.NUMPY_FROM - 1]))
    assert isinstance(got, list) and got[0][-1] == 1.0


@pytest.mark.parametrize("buf", [
    send([1.0], [1], oid=23),                            # an int4[]
    send([1.0, 2.0], [2, 1])[:-3],                       # cut short
    send([1.0] * 300, [3, 100]) + b"\0",                 # trailing bytes
    struct.pack(">iiI", -1, 0, 701),                     # negative dimensions
    send([1.0] * 300, [3, 100]).replace(struct.pack(">id", 8, 1.0), struct.pack(">id", 7, 1.0), 1),
    # with NULLs: an element of another length, a NULL of length -2, bytes left over
    send([None, 1.0], [2]).replace(struct.pack(">id", 8, 1.0), struct.pack(">id", 4, 1.0), 1),
    send([None, 1.0], [2]).replace(struct.pack(">i", -1), struct.pack(">i", -2), 1),
    send([None, 1.0], [2]) + b"\0\0\0\0",
])
def test_malformed_bytes_refused(buf):
    with pytest.raises(ValueError):
        pgarray.float8_rows(buf)
