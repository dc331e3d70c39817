"""An ``.npz`` archive from a stranger, read with every size bounded before it is allocated.

``np.load`` trusts the archive: it parses the whole zip directory, however large, and sizes
each array from the member's own ``.npy`` header, so a few megabytes of file can make it
parse for seconds or allocate gigabytes. :class:`BoundedArchive` checks, before reading:

- the zip directory's size (its end record is read the way :mod:`zipfile` reads it), so that
  parsing it is cheap;
- each member: stored or deflated only, not encrypted, one member per name;
- the uncompressed size the directory gives every member: all of them together may exceed
  the file's own size by at most :data:`EXPANSION_ALLOWANCE` (stored members never do; this
  bounds what a deflate bomb can make), and a member read as an array must be exactly its
  ``.npy`` header plus the array's bytes, of the shape and dtype the caller expects.

Arrays are read in chunks into an array allocated once, so reading costs the array and a
chunk; they come back in native byte order. Every failure is a ``ValueError`` with a short
message.
"""
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy_format

# Decompressed bytes beyond the file's own size that all members together may claim.
EXPANSION_ALLOWANCE = 64 * 2**20
# cnet writes a handful of members: a directory of 64 KiB holds several hundred.
MAX_DIRECTORY_BYTES = 64 * 2**10
# numpy writes headers of about a hundred bytes for the arrays cnet saves.
MAX_NPY_HEADER_BYTES = 4096
CHUNK_BYTES = 2**20

_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_END_RECORD = b"PK\x06\x06"
_ZIP64_END_RECORD_SIZE = 56
_NPY_MAGIC = b"\x93NUMPY"

# What reading a damaged member can raise, besides ValueError: zipfile's and zlib's errors, a
# compression method zipfile lacks, an encrypted member, a short read.
_READ_ERRORS = (ValueError, zipfile.BadZipFile, zlib.error, EOFError, OSError,
                NotImplementedError, RuntimeError, KeyError, TypeError, OverflowError,
                SyntaxError)


def short_list(items, limit=3):
    """Up to ``limit`` items, each shown in at most 40 characters, and a count of the rest."""
    items = list(items)
    shown = ", ".join(repr(item)[:40] for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _directory_size(file, size):
    """The zip directory's size in bytes, found as :mod:`zipfile` finds it."""
    file.seek(max(size - (1 << 16) - _END_RECORD_SIZE, 0))
    tail = file.read()
    tail_start = size - len(tail)
    if (len(tail) >= _END_RECORD_SIZE and tail[-_END_RECORD_SIZE:][:4] == _END_RECORD
            and tail[-2:] == b"\0\0"):
        start = len(tail) - _END_RECORD_SIZE
    else:
        start = tail.rfind(_END_RECORD)
        if start < 0 or start + _END_RECORD_SIZE > len(tail):
            raise ValueError("it is not an .npz archive (no zip directory at its end)")
    directory = int.from_bytes(tail[start + 12:start + 16], "little")
    # A zip64 end record, where zipfile looks for one, overrides the plain record's figures.
    locator = tail_start + start - _ZIP64_LOCATOR_SIZE
    record = locator - _ZIP64_END_RECORD_SIZE
    if record >= 0:
        file.seek(record)
        data = file.read(_ZIP64_END_RECORD_SIZE + _ZIP64_LOCATOR_SIZE)
        if (data[_ZIP64_END_RECORD_SIZE:][:4] == _ZIP64_LOCATOR
                and data[:4] == _ZIP64_END_RECORD):
            directory = int.from_bytes(data[40:48], "little")
    return directory


class BoundedArchive:
    """The members of an open ``.npz`` file, checked for size before anything is read.

    Parameters
    ----------
    file : binary file object
        Open for reading and seekable; it stays open while the archive is used.

    Attributes
    ----------
    names : set of str
        The members' names without ``.npy``.

    Raises
    ------
    ValueError
        If the file is empty, a single ``.npy`` array, not a zip archive, or an archive whose
        directory or declared sizes exceed the bounds above.
    """

    def __init__(self, file):
        size = file.seek(0, 2)
        if size == 0:
            raise ValueError("the file is empty")
        file.seek(0)
        if file.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
            raise ValueError("it is a single .npy array, not an .npz archive")
        directory = _directory_size(file, size)
        if directory > MAX_DIRECTORY_BYTES:
            raise ValueError(f"its zip directory takes {directory} bytes; a model's takes "
                             f"under {MAX_DIRECTORY_BYTES}")
        try:
            self._zip = zipfile.ZipFile(file)
            infos = self._zip.infolist()
        except _READ_ERRORS as exc:
            raise ValueError(f"it is not a readable .npz archive: {str(exc)[:200]}") from None
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"members appear twice: {short_list(twice)}")
        odd = [n for n in names if not n.endswith(".npy")]
        if odd:
            raise ValueError(f"members that are not .npy arrays: {short_list(odd)}")
        for info in infos:
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(f"member {info.filename!r:.40} is compressed with method "
                                 f"{info.compress_type}; stored or deflated only")
            if info.flag_bits & 0x1:
                raise ValueError(f"member {info.filename!r:.40} is encrypted")
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise ValueError(f"member {info.filename!r:.40} is stored with "
                                 f"{info.compress_size} bytes but declares {info.file_size}")
        claimed = sum(info.file_size for info in infos)
        if claimed > size + EXPANSION_ALLOWANCE:
            raise ValueError(f"its members claim {claimed} bytes uncompressed, more than the "
                             f"file's {size} and {EXPANSION_ALLOWANCE} of decompression")
        self._infos = {name[:-len(".npy")]: info for name, info in zip(names, infos)}
        self.names = set(self._infos)

    def npy_size(self, name):
        """The uncompressed size of member ``name`` as the zip directory gives it."""
        return self._infos[name].file_size

    def read(self, name, dtype, shape=None, max_count=None):
        """Member ``name`` as an array of ``dtype`` (either byte order), in native byte order.

        Parameters
        ----------
        name : str
            A member, without ``.npy``.
        dtype : str or numpy.dtype
            Its dtype; big- and little-endian are both accepted.
        shape : tuple of int, optional
            Its shape; None accepts any 1-D array of at most ``max_count`` items.
        max_count : int, optional
            With ``shape=None``, the most items the array may have.

        Returns
        -------
        ndarray
            C-contiguous, native byte order.

        Raises
        ------
        ValueError
            If the member's size, header, shape or dtype differ from these, or its data are
            damaged (checksum, truncation).
        """
        info = self._infos[name]
        expected = np.dtype(dtype)
        if shape is None:
            if info.file_size > max_count * expected.itemsize + MAX_NPY_HEADER_BYTES:
                raise ValueError(f"member {name!r} takes {info.file_size} bytes uncompressed, "
                                 f"more than {max_count} items of {expected}")
        else:
            nbytes = int(np.prod(shape, dtype=object)) * expected.itemsize
            if not nbytes <= info.file_size <= nbytes + MAX_NPY_HEADER_BYTES:
                raise ValueError(f"member {name!r} takes {info.file_size} bytes uncompressed, "
                                 f"not the array of shape {tuple(shape)} and dtype {expected} "
                                 f"the header says")
        try:
            with self._zip.open(info) as member:
                return self._read_array(member, info, name, expected, shape, max_count)
        except _READ_ERRORS as exc:
            if isinstance(exc, _Refused):
                raise ValueError(str(exc)) from None
            raise ValueError(f"member {name!r} is damaged: {str(exc)[:200]}") from None

    @staticmethod
    def _read_array(member, info, name, expected, shape, max_count):
        version = npy_format.read_magic(member)
        if version == (1, 0):
            got_shape, fortran, got_dtype = npy_format.read_array_header_1_0(
                member, max_header_size=MAX_NPY_HEADER_BYTES)
        elif version == (2, 0):
            got_shape, fortran, got_dtype = npy_format.read_array_header_2_0(
                member, max_header_size=MAX_NPY_HEADER_BYTES)
        else:
            raise _Refused(f"member {name!r} is an .npy of version {version}, not 1.0 or 2.0")
        wanted = (expected.newbyteorder("<"), expected.newbyteorder(">"))
        if got_dtype not in wanted or got_dtype.hasobject or got_dtype.fields is not None:
            raise _Refused(f"member {name!r} has dtype {got_dtype}, the header says {expected}")
        if shape is None:
            if len(got_shape) != 1 or got_shape[0] > max_count:
                raise _Refused(f"member {name!r} has shape {got_shape}, expected 1-D of at "
                               f"most {max_count}")
        elif tuple(got_shape) != tuple(shape):
            raise _Refused(f"member {name!r} has shape {got_shape}, the header says "
                           f"{tuple(shape)}")
        count = int(np.prod(got_shape, dtype=object))
        nbytes = count * got_dtype.itemsize
        if member.tell() + nbytes != info.file_size:
            raise _Refused(f"member {name!r}: {info.file_size} bytes do not hold its header "
                           f"and an array of shape {got_shape}")
        array = np.empty(count, dtype=got_dtype)
        into = memoryview(array.view(np.uint8)) if nbytes else memoryview(b"")
        done = 0
        while done < nbytes:
            chunk = member.read(min(CHUNK_BYTES, nbytes - done))
            if not chunk:
                raise _Refused(f"member {name!r} is truncated")
            into[done:done + len(chunk)] = chunk
            done += len(chunk)
        if member.read(1):   # reading to the end also makes zipfile check the CRC
            raise _Refused(f"member {name!r} holds more than its array")
        if fortran:
            array = np.ascontiguousarray(array.reshape(got_shape[::-1]).T)
        else:
            array = array.reshape(got_shape)
        if not array.dtype.isnative:
            # A big-endian machine's file: swapped in place, then seen as native.
            array.byteswap(inplace=True)
            array = array.view(array.dtype.newbyteorder("="))
        return array


class _Refused(ValueError):
    """A member that reads fine but is not what was expected; its message is complete."""
