"""Building model files as an attacker would: members, headers and zip directories by hand.

Shared by the hostile-file tests, the load fuzzer and ``scripts/load_bounds.py``. Nothing here
goes through ``cnet.save``'s checks: the point is to write what ``save`` never would.
"""
import io
import json
import zipfile
import zlib

import numpy as np


def npy_bytes(array):
    """``array`` as the bytes of an ``.npy`` file (numpy's own writer)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def members_of(data):
    """``[(name, bytes), ...]`` of an archive given as bytes, in directory order."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def archive(members, compression=zipfile.ZIP_STORED):
    """An archive (bytes) of ``members``, ``[(name, bytes or ZipInfo-ready bytes), ...]``;
    names may repeat."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as out:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            out.writestr(info, data)
    return buffer.getvalue()


def header_of(members):
    """The JSON header of an archive's members, as a dict."""
    raw = dict(members)["header.npy"]
    return json.loads(np.load(io.BytesIO(raw)).tobytes())


def with_header(members, header):
    """The members with the header replaced by ``header`` (a dict, or raw bytes)."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    new = npy_bytes(np.frombuffer(raw, dtype=np.uint8))
    return [(name, new if name == "header.npy" else data) for name, data in members]


def with_array(members, name, array, declare=True):
    """The members with array ``name`` replaced (or added), the header's entry updated."""
    members = [(n, d) for n, d in members if n != f"{name}.npy"] + [(f"{name}.npy",
                                                                       npy_bytes(array))]
    if declare:
        header = header_of(members)
        header["arrays"][name] = [list(array.shape), array.dtype.str]
        members = with_header(members, header)
    return members


def big_endian(members):
    """The members as a big-endian machine writes them: every multi-byte array swapped."""
    header = header_of(members)
    out = []
    for name, data in members:
        array = np.load(io.BytesIO(data))
        if name != "header.npy" and array.dtype.itemsize > 1 and array.dtype.kind != "b":
            array = array.astype(array.dtype.newbyteorder(">"))
            header["arrays"][name[:-4]] = [list(array.shape), array.dtype.str]
        out.append((name, npy_bytes(array)))
    return with_header(out, header)


def deflated_zeros(nbytes, level=9):
    """A raw deflate stream of ``nbytes`` zero bytes (about 1,000 times smaller)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    chunk = bytes(2**20)
    parts = []
    for start in range(0, nbytes, len(chunk)):
        parts.append(compressor.compress(chunk[:min(len(chunk), nbytes - start)]))
    parts.append(compressor.flush())
    return b"".join(parts)


def bomb_archive(members, bomb_name, bomb_npy_header, bomb_bytes):
    """An archive of stored ``members`` plus one deflated member ``bomb_name`` whose content
    is ``bomb_npy_header`` followed by ``bomb_bytes`` zero bytes, compressed without ever
    holding the zeros in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, compresslevel=1) as out:
        for name, data in members:
            out.writestr(zipfile.ZipInfo(name), data)
        info = zipfile.ZipInfo(bomb_name)
        info.compress_type = zipfile.ZIP_DEFLATED
        for level in ("compress_level", "_compresslevel"):   # its name varies by Python
            if level in zipfile.ZipInfo.__slots__:
                setattr(info, level, 1)   # zeros: the fastest level suffices
        with out.open(info, "w", force_zip64=True) as member:
            member.write(bomb_npy_header)
            zeros = bytes(2**22)
            for start in range(0, bomb_bytes, len(zeros)):
                member.write(zeros[:min(len(zeros), bomb_bytes - start)])
    return buffer.getvalue()


def npy_header(shape, dtype):
    """The ``.npy`` header alone of an array of ``shape`` and ``dtype``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                 "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()


def many_members(members, count):
    """An archive of ``members`` and ``count`` more empty ones: a large zip directory."""
    return archive(list(members) + [(f"extra{i}.npy", b"") for i in range(count)])
