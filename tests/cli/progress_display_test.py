#!/usr/bin/env python3
"""The CLI's progress display, as a user sees it.

In a pseudo-terminal, `anifarm run` redraws one progress line in place
(carriage returns, no newline per update) with the frame counters, and ends
with the done line. Through a pipe, the same run prints plain lines, one per
update, including chunk events. Exit status 0 in both cases.

usage: progress_display_test.py BIN_DIR MODELS_DIR
"""
import os
import pty
import subprocess
import sys
import tempfile


def run_in_pty(argv):
    """Runs argv with stdout/stderr on a pty; returns (exit status, bytes)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO once the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def main():
    bin_dir, models = sys.argv[1], sys.argv[2]
    anifarm = os.path.join(bin_dir, "anifarm")
    failures = []
    with tempfile.TemporaryDirectory(prefix="anifarm-pty-") as tmp:
        clip = os.path.join(tmp, "clip.mp4")
        subprocess.run([anifarm, "sample", clip, "--frames", "24", "--size", "96x64"],
                       check=True, capture_output=True)
        common = ["--models-dir", models, "--model", "2x-AniScale"]

        code, screen = run_in_pty([anifarm, "run", clip, "-o", os.path.join(tmp, "tty.mp4"),
                                   "--state-dir", os.path.join(tmp, "state-tty")] + common)
        if code != 0:
            failures.append(f"run in a pty exited {code}:\n{screen}")
        bars = [part for part in screen.split("\r") if part.startswith("[")]
        if len(bars) < 2:
            failures.append(f"expected the bar redrawn in place (\\r), got:\n{screen!r}")
        if not any("100%" in bar and "done" in bar for bar in bars):
            failures.append(f"no final 100% bar:\n{screen!r}")
        if "upscaled" not in screen or "reused" not in screen:
            failures.append("the bar lacks the frame counters")
        if "done: 24 frames" not in screen:
            failures.append(f"no done line with the frame count:\n{screen!r}")

        piped = subprocess.run([anifarm, "run", clip, "-o", os.path.join(tmp, "pipe.mp4"),
                                "--state-dir", os.path.join(tmp, "state-pipe")] + common,
                               capture_output=True, text=True)
        if piped.returncode != 0:
            failures.append(f"run through a pipe exited {piped.returncode}:\n{piped.stderr}")
        if "\r" in piped.stderr:
            failures.append("carriage returns written to a pipe")
        lines = piped.stderr.splitlines()
        if not any(line.startswith("chunk 0 started on node-") for line in lines):
            failures.append(f"no chunk event line through the pipe:\n{piped.stderr}")
        if not any(line.startswith("[") and "100%" in line for line in lines):
            failures.append(f"no final progress line through the pipe:\n{piped.stderr}")

    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
