"""Files (docs/design.md §1): atomic writes, safe output paths, CSV for people.

Adapter: the file system only. The pure core never writes a file; whatever it makes (a plan, an
audit's tables) is written here.

- ``write_atomic(path, write)``: a file or a whole folder appears complete or not at all.
- ``check_output_file`` / ``check_output_folder``: an ``--out`` path that would overwrite the
  store or the config, or is a folder where a file is expected (or the other way round), is an
  ``InputError`` (exit 2) before anything is computed.
- ``write_csv(df, path)``: a table people open, owner-only (0600), "\\n" line endings, UTF-8.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import InputError

__all__ = ["write_atomic", "check_output_file", "check_output_folder", "write_csv",
           "check_regular_file", "read_regular_bytes", "shown", "is_utf8", "check_utf8"]


# --- paths and arguments that are not UTF-8 -------------------------------------------------------
def is_utf8(value) -> bool:
    """``value`` (a str or path) encodes as UTF-8: Python hands bytes of a path or an argument
    that are not UTF-8 over as lone surrogates, which no UTF-8 output can carry."""
    try:
        str(value).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def shown(value) -> str:
    """``value`` as text any output can carry: bytes that are not UTF-8 as ``\\xNN``."""
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def check_utf8(value, what: str) -> None:
    """InputError (exit 2) naming ``what`` and the value (escaped) when it is not UTF-8."""
    if not is_utf8(value):
        raise InputError(f"{what} '{shown(value)}' is not UTF-8: usermap takes paths and "
                         f"arguments in UTF-8 only; rename the file or folder (or give the "
                         f"value in UTF-8)")


# --- atomic writes ------------------------------------------------------------------------------
def write_atomic(path, write) -> Path:
    """Call ``write(tmp_path)`` then rename tmp_path over ``path`` (file or folder).

    A path with a suffix is a file (a temp file beside it); one without is a folder (a temp
    folder, owner-only with everything in it, replacing any folder already there).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            write(Path(tmp))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    else:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))  # 0700
        try:
            write(tmp)
            for p in tmp.rglob("*"):  # owner-only whatever the umask, even if moved out later
                p.chmod(0o700 if p.is_dir() else 0o600)
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return path


# --- output paths -------------------------------------------------------------------------------
def _resolved(path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path)))).resolve(strict=False)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:           # one of them does not exist (yet): compare the resolved paths
        return _resolved(a) == _resolved(b)


def _within(inner: Path, outer: Path) -> bool:
    """``inner`` is ``outer`` or lies somewhere below it (after resolving links)."""
    i, o = _resolved(inner), _resolved(outer)
    return i == o or o in i.parents


def _protected(protected) -> list[tuple[str, Path]]:
    """(what, path) pairs from a mapping {what: path} or an iterable of paths; None skipped."""
    items = protected.items() if isinstance(protected, dict) else (("input", p) for p in protected)
    return [(str(what), Path(p)) for what, p in items if p is not None and str(p) != ""]


def check_output_file(path, *, protected=(), kind: str = "", looks_like=None) -> Path:
    """Check an ``--out`` path that will hold one file; returns it as a Path.

    ``protected`` maps what a path is (``"store"``, ``"config"``...) to the path, or lists paths:
    an output that is one of them is refused. So is an existing folder, and a parent that is an
    existing file. With ``looks_like`` (a test of an existing file's first 8 KB), an existing
    file that is not a usermap output of this ``kind`` is refused too: usermap replaces only
    what it wrote. Raises InputError naming the option's path.
    """
    out = Path(path)
    if str(path) == "":
        raise InputError("the output path is empty")
    if out.is_dir():
        raise InputError("is a folder; a file is expected here: give a file's path (a new "
                         "one, or one usermap wrote)", file=str(out))
    _check_parent_folders(out)
    for what, p in _protected(protected):
        if _same(out, p):
            raise InputError(f"would overwrite the {what} ({p}); choose another path", file=str(out))
    if looks_like is not None and (out.exists() or out.is_symlink()):
        head = b""
        try:
            with open(out, "rb") as f:
                head = f.read(8192)
        except OSError as e:
            raise InputError(f"cannot read the existing file: {e.strerror or e}",
                             file=str(out)) from None
        if head and not looks_like(head):
            raise InputError(f"exists and is not a {kind or 'usermap output'}: usermap does not "
                             f"overwrite what it did not write; choose another path or remove "
                             f"it", file=str(out))
    return out


def _check_parent_folders(out: Path) -> None:
    """The nearest existing parent of ``out`` is a folder (not a file): InputError otherwise."""
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{parent} is a file, not a folder; choose another path",
                                 file=str(out))
            return


def check_output_folder(path, *, protected=(), holds=None, kind: str = "") -> Path:
    """Check an ``--out`` path that will be a folder (written whole, replacing what is there);
    returns it as a Path.

    Refused: an existing file, a symbolic link, a parent that is a file, a folder that is or
    holds one of the ``protected`` paths (the folder is replaced as a whole, so the store or
    the config inside it would be lost) and, with ``holds`` (the names a usermap output of this
    ``kind`` consists of), an existing folder holding anything else. Raises InputError.
    """
    out = Path(path)
    if str(path) == "":
        raise InputError("the output path is empty")
    if out.is_symlink():
        raise InputError("is a symbolic link; give the folder itself", file=str(out))
    if out.exists() and not out.is_dir():
        raise InputError("is a file; a folder is expected here: give a new folder's path, "
                         "or one usermap wrote", file=str(out))
    _check_parent_folders(out)
    for what, p in _protected(protected):
        if _within(p, out):
            raise InputError(f"would overwrite the {what} ({p}); choose another path", file=str(out))
    if holds is not None and out.is_dir():
        try:
            other = sorted(p.name for p in out.iterdir() if p.name not in holds)
        except OSError as e:
            raise InputError(f"cannot list the folder: {e.strerror or e}", file=str(out)) from None
        if other:
            shown = ", ".join(other[:3]) + (f" and {len(other) - 3} more" if len(other) > 3
                                            else "")
            raise InputError(f"is not {_a(kind or 'usermap output')} folder: it holds {shown}, "
                             f"which usermap did not write there and would lose; choose a new or "
                             f"empty folder", file=str(out))
    return out


# --- CSV for people -----------------------------------------------------------------------------
def write_csv(df, path, *, columns=None) -> Path:
    """Write a DataFrame as CSV for people: no index, "\\n" line endings, UTF-8, owner-only
    (0600; the file holds names and e-mails). ``columns`` picks and orders columns."""
    path = Path(path)
    df.to_csv(path, index=False, columns=None if columns is None else list(columns),
              lineterminator="\n")
    os.chmod(path, 0o600)
    return path


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


# --- inputs: regular files only ----------------------------------------------------------------
def check_regular_file(path, *, error=InputError) -> os.stat_result:
    """``path`` is a regular file (a symlink to one is fine), or ``error`` (exit 2) at once.

    A FIFO would block the reader for ever, a device such as /dev/zero never ends, a folder is
    not a file: none of them is read. Checked with ``os.stat`` before anything opens the path.
    """
    import stat
    p = str(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise error("file not found", file=p) from None
    except OSError as e:
        raise error(f"cannot read the file: {e.strerror}", file=p) from None
    if stat.S_ISDIR(st.st_mode):
        raise error("is a folder, not a file", file=p)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise error(f"is {kind}, not a regular file; usermap reads regular files only", file=p)
    return st


def read_regular_bytes(path, *, error=InputError) -> bytes:
    """The bytes of a regular file (``check_regular_file``), opened with ``O_NONBLOCK`` so that a
    FIFO swapped in after the check cannot block the open either; checked again on the open file."""
    import stat
    check_regular_file(path, error=error)
    p = str(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error("file not found", file=p) from None
    except OSError as e:
        raise error(f"cannot read the file: {e.strerror}", file=p) from None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error("is not a regular file; usermap reads regular files only", file=p)
        return f.read()
