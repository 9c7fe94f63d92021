"""Helpers for the sandbox tests: find processes by a marker, skip where there is no /proc."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the sandbox's containment is Linux-specific")


def processes_with(marker: str) -> list[str]:
    """Live processes whose command line carries `marker`, as `pid: cmdline`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state not in (b"Z", b"X"):
            shown = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{pid}: {shown}")
    return found


@pytest.fixture
def marker() -> str:
    """A unique word to put on sandboxed command lines, so leftovers can be found."""
    return f"evalspec-marker-{secrets.token_hex(6)}"
