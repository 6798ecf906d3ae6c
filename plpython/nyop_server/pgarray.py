"""PostgreSQL's binary array format (what ``array_send`` returns), read into Python.

``nyop_solve_mckp`` hands its float8 arrays to PL/Python as ``array_send(weights)``
bytes: PL/Python's own conversion of a 100 x 100 float8[] builds 10,000 Python
floats in nested lists that numpy then reads back one by one (about 1.5 ms of a
5 ms solve on this project's benchmark machine); numpy reads the same numbers
straight from the bytes in microseconds.

The format (PostgreSQL's ``array_send``, network byte order): ``int4`` number of
dimensions, ``int4`` flags (1: some element is NULL), ``oid`` element type, then
per dimension ``int4`` size and ``int4`` lower bound, then per element an ``int4``
length (-1 for NULL) and that many bytes (8 for a float8).
"""

import struct

#: pg_type oid of float8
FLOAT8_OID = 701
#: From this many elements on, a 2-D array without NULLs is read as a numpy matrix.
NUMPY_FROM = 257

_HEAD = struct.Struct(">iiI")
_DIM = struct.Struct(">ii")


def float8_rows(buf):
    """The float8[] whose ``array_send`` bytes are ``buf``, as PL/Python would pass it --
    nested lists, NULL as None, ``[]`` for an empty array -- except that a 2-D array of at
    least :data:`NUMPY_FROM` elements and no NULL comes as an ``n x m`` float64 numpy
    matrix (read from the bytes, no Python float per element).  None stays None."""
    if buf is None:
        return None
    try:
        return _read(bytes(buf))
    except struct.error:
        raise ValueError("float8[] in array_send format: cut short") from None


def _read(buf):
    ndim, flags, oid = _HEAD.unpack_from(buf, 0)
    if oid != FLOAT8_OID or ndim < 0:
        raise ValueError("not a float8[] in array_send format (ndim %d, element type %d)" % (ndim, oid))
    dims = [_DIM.unpack_from(buf, _HEAD.size + _DIM.size * k)[0] for k in range(ndim)]
    offset = _HEAD.size + _DIM.size * ndim
    count = 1
    for d in dims:
        count *= d
    if ndim == 0:
        return []
    if not flags:
        if len(buf) != offset + 12 * count:
            raise ValueError("float8[] in array_send format: %d bytes for %d elements" % (len(buf), count))
        if ndim == 2 and count >= NUMPY_FROM:
            import numpy as np
            cells = np.frombuffer(buf, dtype=np.dtype([("len", ">i4"), ("value", ">f8")]),
                                  count=count, offset=offset)
            if not (cells["len"] == 8).all():
                raise ValueError("float8[] in array_send format: an element is not 8 bytes")
            return cells["value"].astype(np.float64).reshape(dims)
        flat = list(struct.unpack_from(">" + "id" * count, buf, offset)[1::2])
    else:
        flat = []
        for _ in range(count):
            (length,) = struct.unpack_from(">i", buf, offset)
            offset += 4
            if length == -1:
                flat.append(None)
            elif length == 8:
                flat.append(struct.unpack_from(">d", buf, offset)[0])
                offset += 8
            else:
                raise ValueError("float8[] in array_send format: an element is not 8 bytes")
        if offset != len(buf):
            raise ValueError("float8[] in array_send format: %d bytes for %d elements" % (len(buf), count))
    for d in reversed(dims[1:]):
        flat = [flat[k:k + d] for k in range(0, len(flat), d)]
    return flat
