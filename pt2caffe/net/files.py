"""Files written all or nothing: each file is written to an unnamed temporary beside its target, and the
set is published together (linked and renamed into place under a lock on the folder) only when every file
is complete; the leftovers of a killed run are cleaned up; JSON in a readable, diffable layout."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import socket
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from ..errors import Pt2CaffeError


def json_text(document: dict) -> str:
    """``document`` as JSON with one top-level key per line and one line per item of a top-level list.

    Still readable and diffable, and written by json's C encoder (``indent`` switches to its pure-Python
    one, which took a fifth of the export time of a 16,000-op net). NaN/inf are written as JSON's
    NaN/Infinity extensions, as json.dump does.
    """
    lines = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            text = "[\n  " + ",\n  ".join(json.dumps(item) for item in value) + "\n ]"
        else:
            text = json.dumps(value)
        lines.append(f" {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


TEMP_PREFIX = ".tmp-pt2caffe-"
_TEMP_NAME = re.compile(r"^\.tmp-pt2caffe-([0-9a-f]{8})-(\d+)-")


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def remove_stale_temps(directory: str) -> None:
    """Delete the temporary files a killed pt2caffe left in ``directory`` (hidden, possibly hundreds of MB).

    Only our own pattern (``.tmp-pt2caffe-HOST-PID-…``), and only when PID no longer runs on this host:
    the temporary files of a concurrent export, here or on another machine sharing the folder, stay.
    """
    host = _host_tag()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match and match[1] == host and _process_gone(int(match[2])):
            try:
                os.unlink(entry.path)
            except OSError:
                pass  # gone already (another export cleaned it) or not ours to remove


@dataclass
class _Output:
    """One file being written: its final ``path``, the open ``handle`` and, until it is published, the
    named temporary that holds it (None while the data lives in an unnamed O_TMPFILE inode)."""

    path: str
    handle: BinaryIO
    temp: str | None


# Errors of open(O_TMPFILE) on systems or filesystems without it (open(2): EOPNOTSUPP; kernels before
# 3.11 EISDIR, since O_TMPFILE includes O_DIRECTORY; EINVAL where the flag is unknown).
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)
_PROC_FD = "/proc/self/fd"  # where an unnamed file is reachable by path, for linkat(AT_SYMLINK_FOLLOW)


def _open_unnamed(directory: str) -> int | None:
    """A writable O_TMPFILE file in ``directory`` (it has no name and vanishes when closed: a SIGKILL leaves
    nothing), or None where the system cannot make or later link one; the mode is 0666 less the umask."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not os.path.isdir(_PROC_FD):
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    except OSError as error:
        if error.errno in _NO_TMPFILE:
            return None
        raise


def _temp_name(path: str) -> str:
    """A hidden name beside ``path`` that remove_stale_temps() recognises (host, pid, random part)."""
    return f"{TEMP_PREFIX}{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{os.path.basename(path)}"


def _open_output(path: str) -> _Output:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd = _open_unnamed(directory)
        temp = None
        if fd is None:
            temp = os.path.join(directory, _temp_name(path))
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as error:
        raise Pt2CaffeError(f"cannot write {path}: {error.strerror}") from None
    return _Output(path, os.fdopen(fd, "wb"), temp)


def _link(output: _Output) -> str:
    """Give an unnamed file a hidden name in its folder. ``os.link(src, dst)`` with the default directory
    fds calls link(2), which does not follow the /proc magic link (EXDEV); with a directory fd CPython
    calls linkat(2) with AT_SYMLINK_FOLLOW, which links the open file itself (see open(2), O_TMPFILE)."""
    directory = os.path.dirname(os.path.abspath(output.path))
    temp = os.path.join(directory, _temp_name(output.path))
    folder = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(f"{_PROC_FD}/{output.handle.fileno()}", os.path.basename(temp), src_dir_fd=folder,
                dst_dir_fd=folder, follow_symlinks=True)
    finally:
        os.close(folder)
    return temp


@contextmanager
def _folders_locked(paths: list[str]) -> Iterator[None]:
    """Hold flock(LOCK_EX) on the folders of ``paths`` (sorted: no deadlock between writers of several).

    Two exports to one name then publish one after the other, never interleaved. The lock is on the folder
    itself, so no lock file is left behind. Where flock is refused (some network filesystems) the files
    are published unlocked: the export id that write() puts in all three still exposes a mix.
    """
    held = []
    try:
        for directory in sorted({os.path.dirname(os.path.abspath(path)) for path in paths}):
            folder = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            held.append(folder)
            try:
                fcntl.flock(folder, fcntl.LOCK_EX)
            except OSError:
                pass
        yield
    finally:
        for folder in held:
            os.close(folder)  # releases the lock


def _publish(outputs: list[_Output]) -> None:
    """Name every file and rename it onto its target, all under the folders' lock."""
    for output in outputs:
        output.handle.flush()
    with _folders_locked([output.path for output in outputs]):
        for output in outputs:
            if output.temp is None:
                output.temp = _link(output)
            os.replace(output.temp, output.path)
            output.temp = None


@contextmanager
def atomic_files(paths: list[str]) -> Iterator[list[BinaryIO]]:
    """Binary files to write ``paths`` through; published together only if the block succeeds.

    Each file is an unnamed temporary (Linux O_TMPFILE) in its target's folder, so an export killed while
    writing (SIGKILL included) leaves nothing; on filesystems without O_TMPFILE, a hidden named temporary
    (``.tmp-pt2caffe-HOST-PID-…``), removed on any error and, after a SIGKILL, by the next export to the
    folder (remove_stale_temps). Publishing links and renames the files into place while holding a lock on
    their folders, so concurrent writers to the same names leave one writer's complete set; a crash in
    the middle of publishing (microseconds) can still leave files of two runs, which is why an export's
    files also carry a shared export id. Raises Pt2CaffeError when a file cannot be created, OSError from
    writing or publishing (the old files are then untouched, or, mid-publish, partly replaced).
    """
    outputs: list[_Output] = []
    try:
        for directory in dict.fromkeys(os.path.dirname(os.path.abspath(path)) for path in paths):
            remove_stale_temps(directory)
        for path in paths:
            outputs.append(_open_output(path))
        yield [output.handle for output in outputs]
        _publish(outputs)
    finally:
        for output in outputs:
            output.handle.close()
            if output.temp is not None and os.path.exists(output.temp):
                os.unlink(output.temp)


def write_files(contents: dict[str, str | bytes]) -> None:
    """Write each path's text or bytes, all or nothing (see atomic_files); one error line on failure."""
    try:
        with atomic_files(list(contents)) as handles:
            for handle, data in zip(handles, contents.values()):
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as error:
        raise Pt2CaffeError(f"cannot write {', '.join(contents)}: {error.strerror}") from None
