"""Running the installed command in a real pseudo-terminal, as a person at a terminal sees it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def run_in_terminal(
    args: list[str], columns: int, rows: int = 50, env: dict[str, str] | None = None, links: bool = True
) -> str:
    """Run the installed `trackerbridge` in a real pseudo-terminal of this size, as a person at a terminal
    does (colour, hyperlinks, the terminal's width), and return what they see: escapes stripped, CRLF as LF."""
    import fcntl
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    base = {**os.environ, **(env or {})}
    child = {k: v for k, v in base.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    command = [str(Path(sys.executable).with_name("trackerbridge")), *args]
    process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal, env=child, close_fds=True)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=120) == 0
    raw = b"".join(chunks).decode("utf-8")
    assert ("\x1b]8;" in raw) == links, "on a terminal, record keys are hyperlinks"
    plain = re.sub(r"\x1b\]8;[^\x1b\x07]*(\x1b\\|\x07)", "", raw)  # OSC-8 hyperlinks
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", plain)  # colours, cursor
    return plain.replace("\r\n", "\n")
