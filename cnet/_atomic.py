"""Files written whole or not at all: the old file stays until the new one is complete.

Writing a file in place truncates it first, so a process killed part-way, or a disk that fills
up, leaves neither the old content nor the new. :func:`atomic_write` writes into a temporary
file beside the target, forces it to the disk, and only then renames it over the target.
``os.replace`` swaps the name in one step on POSIX and on Windows, but only within one
filesystem, which is why the temporary file sits in the target's directory.
"""
import contextlib
import errno
import io
import os
import secrets
import stat


@contextlib.contextmanager
def atomic_write(path, mode="wb", **open_kwargs):
    """Open a file to write that replaces ``path`` only once it is complete and on disk.

    Inside the ``with`` block the file is a temporary one in ``path``'s directory; when the
    block ends normally it is flushed, ``fsync``-ed and renamed over ``path``, then the
    directory is ``fsync``-ed where the platform allows, so that the rename survives a power
    cut too. If anything fails, the temporary file is removed and ``path`` keeps what it had.

    Parameters
    ----------
    path : str or path-like
        The file to write. A symbolic link is followed: the file it points to is replaced,
        as writing in place would change that file. A device or pipe (``/dev/null``,
        ``/dev/stdout``) is written to directly: it has nothing to keep (in binary mode the
        content is assembled in memory first, so that writers that seek work). A name
        ending in a path separator is refused: it names a directory.
    mode : {"wb", "w"}, default "wb"
        Binary or text.
    **open_kwargs
        Passed to :func:`open` for the temporary file (``newline``, ``encoding``, ...).

    Yields
    ------
    file object
        The temporary file, open for writing.

    Raises
    ------
    OSError
        Of the subclass matching the failure (``PermissionError``, ...), naming ``path``
        and saying it was left unchanged; the original error is its ``__cause__``.
    TypeError
        If ``path`` is not a str or path-like (an open file cannot be replaced atomically).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    try:
        shown = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(f"path must be a file name (str or path-like), got "
                        f"{type(path).__name__}: an open file cannot be replaced whole") from None
    if shown.endswith(os.sep) or (os.altsep and shown.endswith(os.altsep)):
        # realpath would drop the separator and the file would be created as "dir".
        raise IsADirectoryError(errno.EISDIR, f"cannot write {shown}: a name ending in a "
                                              f"separator is a directory, not a file")
    try:
        if _exists_but_not_a_file(shown):
            # A device or pipe (/dev/null, /dev/stdout, a FIFO) is written to, never replaced;
            # a directory makes open() say what is wrong.
            with open(shown, mode, **open_kwargs) as file:
                if mode == "wb":
                    # Writers such as zipfile seek back to patch sizes in; a device cannot
                    # seek, so the content is assembled in memory and written in one go.
                    buffer = io.BytesIO()
                    yield buffer
                    file.write(buffer.getbuffer())
                else:
                    yield file
            return
        target = os.path.realpath(shown)
        temporary = _create_beside(target)
        try:
            with open(temporary, mode, **open_kwargs) as file:
                yield file
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        message = f"cannot write {shown} ({reason}); any file already there is unchanged"
        raise (OSError(message) if exc.errno is None else OSError(exc.errno, message)) from exc
    _fsync_directory(os.path.dirname(target))


def _exists_but_not_a_file(path):
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def _create_beside(target):
    """Create an empty, new file next to ``target``; its name.

    ``tempfile.mkstemp`` would create it with mode 0600; created with 0666 here, the umask
    gives it the permissions a file created in place would get, and an existing target's
    permissions are copied, as writing into that file kept them.
    """
    directory, name = os.path.split(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(temporary, flags, 0o666))
        except FileExistsError:   # another writer's temporary file: draw another name
            continue
        break
    try:
        os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
    except FileNotFoundError:
        pass
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def _fsync_directory(directory):
    """Make a rename in ``directory`` durable, where the platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:   # Windows cannot open a directory: the rename is all it offers
        return
    try:
        os.fsync(fd)
    except OSError:   # some filesystems refuse to sync a directory; the rename is done
        pass
    finally:
        os.close(fd)
