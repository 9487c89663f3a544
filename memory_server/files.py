"""Writing a file whole or not at all: a full disk or a process killed mid-write never leaves a truncated file.

Standard library only, so that `memory-server hook` (which imports nothing heavy) can use it too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_whole(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place; on any failure the temporary file
    is removed and `path` is left as it was. The new file is readable by its owner only (an export holds a user's
    personal data). A path that is not a regular file (a pipe, /dev/stdout) is written to directly: there is
    nothing to rename over it."""
    if path.exists() and not path.is_file():
        path.write_bytes(data)
        return
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
