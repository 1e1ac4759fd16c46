"""Atomic file writes: a reader never sees a half-written file, and a failed write leaves nothing behind.

Every writer goes through a temporary file in the destination directory (so the final ``os.replace`` is a
rename on one filesystem) and removes that temporary file on any failure. A destination that exists and is not a
regular file (``/dev/null``, ``/dev/stdout``, a FIFO) is written in place instead: replacing it by a rename would
put a regular file where the device was (as root, for every program on the machine).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tinygen.errors import TinygenError


def _reason(exc: OSError) -> str:
    """A short, one-line reason for an OS error (no path, no errno prefix)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return " ".join(str(reason).split())


ELSEWHERE = "choose another output path"


def _check_directory(path: Path) -> Path:
    """The directory ``path`` will be written into; a TinygenError if it cannot be written."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.exists():
        blocker = next((p for p in directory.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:  # a regular file where a directory of the path should be
            raise TinygenError(f"cannot write {str(path)!r}: {str(blocker)!r} is a file, not a directory; {ELSEWHERE}")
        raise TinygenError(
            f"cannot write {str(path)!r}: directory {str(directory)!r} does not exist; create it first"
        )
    if not directory.is_dir():
        raise TinygenError(f"cannot write {str(path)!r}: {str(directory)!r} is not a directory; {ELSEWHERE}")
    if path.is_dir():
        raise TinygenError(f"cannot write {str(path)!r}: it is a directory; give a file name")
    return directory


def _make_temp(path: Path) -> str:
    """Create an empty temporary file next to ``path`` and return its name."""
    directory = _check_directory(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise TinygenError(f"cannot write {str(path)!r}: {_reason(exc)}; {ELSEWHERE}") from exc
    os.close(fd)
    # mkstemp makes the file 0600; give the result the mode a plain open() would (or keep the old file's).
    try:
        os.chmod(tmp_name, _final_mode(path))
    except OSError:  # pragma: no cover - e.g. filesystems without permissions; the write still works
        pass
    return tmp_name


def _final_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _is_special(path: Path) -> bool:
    """True for an existing path that is neither a regular file nor a directory (a device, a FIFO, a socket)."""
    try:
        return path.exists() and not path.is_file() and not path.is_dir()
    except OSError:
        return False


def _remove_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - nothing more we can do; the original error matters more
        pass


def _replace(tmp_name: str, path: Path) -> None:
    try:
        os.replace(tmp_name, path)
    except OSError as exc:
        _remove_quietly(tmp_name)
        raise TinygenError(f"cannot write {str(path)!r}: {_reason(exc)}; {ELSEWHERE}") from exc


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for someone else to write; rename it to ``path`` on success.

    On an exception inside the ``with`` block the temporary file is removed and the exception propagates
    (an ``OSError`` is turned into a one-line TinygenError naming ``path``).
    """
    path = Path(path)
    if _is_special(path):  # written in place: a device or a FIFO is not replaced
        try:
            yield path
        except OSError as exc:
            raise TinygenError(f"cannot write {str(path)!r}: {_reason(exc)}; {ELSEWHERE}") from exc
        return
    tmp_name = _make_temp(path)
    try:
        yield Path(tmp_name)
    except OSError as exc:
        _remove_quietly(tmp_name)
        raise TinygenError(f"cannot write {str(path)!r}: {_reason(exc)}; {ELSEWHERE}") from exc
    except BaseException:
        _remove_quietly(tmp_name)
        raise
    _replace(tmp_name, path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, then ``os.replace``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically, encoded as ``encoding`` (UTF-8 by default), newlines as given."""
    atomic_write_bytes(path, text.encode(encoding))
