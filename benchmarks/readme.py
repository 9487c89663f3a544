"""What every benchmark report shares: its block in benchmarks/README.md between its own pair of markers, the
command that produced it, the machine it ran on, and how busy that machine was meanwhile."""

from __future__ import annotations

import os
import platform
import resource
import shlex
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "benchmarks" / "README.md"


def write_block(name: str, body: str) -> None:
    """Put `body` between the markers of benchmark `name` in the README, or at its end the first time."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body}\n{end}"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text(text)
    print(f"wrote {README}")


def command() -> str:
    """How this script was run, as the README shows it: from the checkout, with its virtual environment."""
    script = Path(sys.argv[0]).resolve().relative_to(ROOT).as_posix()
    return shlex.join([".venv/bin/python", script, *sys.argv[1:]])


def machine() -> str:
    return (
        f"{os.cpu_count()} CPUs ({platform.machine()}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def cpu_seconds() -> tuple[float, float]:
    """(busy CPU-seconds of the whole machine since boot, CPU-seconds of this process and its waited children)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # everything but idle and iowait
    own = sum(
        getattr(resource.getrusage(who), f)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for f in ("ru_utime", "ru_stime")
    )
    return busy / os.sysconf("SC_CLK_TCK"), own


class Load:
    """How much else ran on the machine during a run: a figure measured beside other work is not its own."""

    def __init__(self) -> None:
        self.at_start = f"load average at start: {os.getloadavg()[0]:.2f}"
        self._busy, self._own = cpu_seconds()
        self._started = time.perf_counter()

    def at_end(self, children: str) -> str:
        """The CPU others used since the start, beside this process and its `children` ("server", ...)."""
        busy, own = (now - then for now, then in zip(cpu_seconds(), (self._busy, self._own), strict=True))
        return (
            f"other processes on the machine used {max(0.0, busy - own):.0f} CPU-seconds during the "
            f"{time.perf_counter() - self._started:.0f} s run (this benchmark and its {children}: {own:.0f}); "
            f"load average at the end {os.getloadavg()[0]:.2f}"
        )
