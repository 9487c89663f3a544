"""One process owns a data directory: Chroma's embedded store is not safe for two writers."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from memory_server.errors import Unavailable


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self._take()
        except OSError as exc:  # not writable, or a full disk: one line naming the file, not a traceback
            raise Unavailable(
                f"data directory {self.path.parent}: cannot lock {self.path}: {exc.strerror or exc} (check that the "
                "directory is writable by this user and its disk is not full)"
            ) from None

    def _take(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise Unavailable(
                f"data directory {self.path.parent} is in use by process {holder}: stop it, or point this one at "
                "the running server (memory-server mcp --url ...), or use another data_dir"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
