"""Run a command and write its peak RSS (the kernel's ``ru_maxrss``, KiB) to a file.

    python -m bench.launch PEAK_FILE -- cmd arg...

Why a launcher: on Linux a child's ``ru_maxrss`` starts from the high-water mark of the
memory it was forked (or vforked) from, before ``exec`` replaced it.  Spawned straight
from the benchmark process (100+ MB), a small command would report the benchmark's
size.  Spawned from this small process, the floor is this process's ~10 MB.  The
exit code is the command's.
"""
from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m bench.launch PEAK_FILE -- cmd [args...]", file=sys.stderr)
        return 2
    peak_file, cmd = argv[0], argv[2:]
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(peak_file, "w", encoding="ascii") as f:
        f.write(str(usage.ru_maxrss))
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
