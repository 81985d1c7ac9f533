#!/usr/bin/env python3
"""The CLI as an operator meets it, against a real coordinator with no node
(so a job waits for ever and nothing needs a model or the engine).

- Ctrl-C on `submit --wait` and SIGTERM on `status --watch`, in a pty: the
  command leaves within 2 s with 130 / 143 and the job keeps running on the
  coordinator.
- The live bar stays within 80 columns, waiting line included.
- A mistyped --preset, --codec or --job-preset is refused at submit (exit 2)
  with a "did you mean"; the right names are accepted, in any case.
- A refused action (pause a cancelled job) exits 6, not 4 (a failed job).
- `--json` (CLI and dashboard API) prints 64-bit counts as numbers.
- A bad config file value names the file and key, not a --flag.
- A coordinator with --tokens tells a caller without one about --token-file.

usage: operator_cli_test.py BIN_DIR
"""
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
    return condition


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PtyProcess:
    """A child on a pseudo-terminal (stdout and stderr), read as it runs."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(argv[0], argv, env)
        self.output = b""
        self.code = None

    def read_until(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while not predicate(self.text()) and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready and not self._read():
                break
        return predicate(self.text())

    def _read(self):
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO once the child closed the terminal
            return False
        self.output += data
        return bool(data)

    def wait(self, timeout):
        """The exit status, or None when still running after `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read():
                    pass
                self.code = os.waitstatus_to_exitcode(status)
                return self.code
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                self._read()
        return None

    def kill(self):
        if self.code is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)

    def text(self):
        return self.output.decode("utf-8", "replace")


def bars(screen):
    """Every progress bar drawn, without the erase-line escape."""
    found = []
    for line in re.split(r"[\r\n]", screen):
        line = line.replace("\x1b[K", "")
        if line.startswith("["):
            found.append(line)
    return found


def signal_test(anifarm, env, clip, tmp):
    """Ctrl-C / SIGTERM on the waiting commands; returns the job id."""
    cli = PtyProcess([anifarm, "submit", clip, "-o", os.path.join(tmp, "out.mp4"), "--wait"],
                     env)
    try:
        check(cli.read_until(lambda t: "waiting" in t, 30),
              f"submit --wait showed no waiting bar:\n{cli.text()!r}")
        match = re.search(r"job-[0-9a-f]+", cli.text())
        if not check(match, f"no job id from submit:\n{cli.text()!r}"):
            return None
        job_id = match.group(0)
        os.kill(cli.pid, signal.SIGINT)
        start = time.monotonic()
        code = cli.wait(5)
        check(code == 130, f"submit --wait after SIGINT exited {code}, expected 130")
        check(code is None or time.monotonic() - start < 2,
              f"submit --wait took {time.monotonic() - start:.1f} s to leave after SIGINT")
        check("keep running on the coordinator" in cli.text(),
              f"no word that the job keeps running:\n{cli.text()!r}")
        for bar in bars(cli.text()):
            check(len(bar) <= 80, f"a progress bar of {len(bar)} columns: {bar!r}")
    finally:
        cli.kill()

    watch = PtyProcess([anifarm, "status", job_id, "--watch"], env)
    try:
        check(watch.read_until(lambda t: "waiting" in t, 30),
              f"status --watch showed no bar:\n{watch.text()!r}")
        os.kill(watch.pid, signal.SIGTERM)
        start = time.monotonic()
        code = watch.wait(5)
        check(code == 143, f"status --watch after SIGTERM exited {code}, expected 143")
        check(code is None or time.monotonic() - start < 2,
              f"status --watch took {time.monotonic() - start:.1f} s to leave after SIGTERM")
    finally:
        watch.kill()

    status = subprocess.run([anifarm, "status", job_id], env=env, capture_output=True, text=True)
    check(status.returncode == 0 and "running" in status.stdout,
          f"the job is not running after the signals ({status.returncode}):\n"
          f"{status.stdout}{status.stderr}")
    return job_id


def json_test(anifarm, env, job_id, http):
    status = subprocess.run([anifarm, "status", job_id, "--json"], env=env, capture_output=True,
                            text=True)
    job = json.loads(status.stdout)
    for field in ("total_frames", "unique_frames", "frames_upscaled", "created_at"):
        check(type(job.get(field)) is int,
              f"status --json: {field} is {job.get(field)!r}, not a number")
    check(job.get("state") == "JOB_RUNNING", f"status --json: state {job.get('state')!r}")
    with urllib.request.urlopen(f"http://{http}/api/jobs", timeout=10) as reply:
        listed = json.loads(reply.read())
    check(listed["jobs"] and type(listed["jobs"][0]["total_frames"]) is int,
          f"dashboard /api/jobs: total_frames not a number: {listed}")


def message_test(anifarm, env, clip, tmp, job_id):
    out = os.path.join(tmp, "x.mp4")

    def submit(*flags):
        return subprocess.run([anifarm, "submit", clip, "-o", out, *flags], env=env,
                              capture_output=True, text=True)

    for flags, hint in [(["--preset", "ultrafastest"], "did you mean 'ultrafast'?"),
                        (["--codec", "h246"], "did you mean 'h264'?"),
                        (["--codec", "hevc_nvenc", "--preset", "p9"], "p1, p2"),
                        (["--job-preset", "old-compresed"], "did you mean 'old-compressed'?")]:
        result = submit(*flags)
        check(result.returncode == 2 and hint in result.stderr,
              f"submit {' '.join(flags)}: exit {result.returncode}, expected 2 and {hint!r}:\n"
              f"{result.stderr}")
    for flags in (["--preset", "VeryFast"], ["--codec", "hevc_nvenc", "--preset", "p5"]):
        result = submit(*flags)
        check(result.returncode == 0, f"submit {' '.join(flags)} refused:\n{result.stderr}")

    config = os.path.join(tmp, "config.toml")
    with open(config, "w") as f:
        f.write('[defaults]\ncodec = "h266"\n')
    result = subprocess.run([anifarm, "submit", clip, "-o", out], capture_output=True, text=True,
                            env=dict(env, ANIFARM_CONFIG=config))
    check(result.returncode == 2 and f"config {config}: [defaults] codec 'h266'" in result.stderr
          and "--codec" not in result.stderr,
          f"a bad config value should name the file and key, got {result.returncode}:\n"
          f"{result.stderr}")

    def act(action):
        return subprocess.run([anifarm, action, job_id], env=env, capture_output=True, text=True)

    check(act("cancel").returncode == 0, "cancel of a running job failed")
    refused = act("pause")
    check(refused.returncode == 6,
          f"pause of a cancelled job exited {refused.returncode}, expected 6:\n{refused.stderr}")


def token_message_test(coordinator, anifarm, env, tmp):
    port = free_port()
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write("admin ops 0123456789abcdef0123\n")
    server = subprocess.Popen([coordinator, "--listen", f"127.0.0.1:{port}", "--state-dir",
                               os.path.join(tmp, "state-tokens"), "--tokens", tokens],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        result = subprocess.run([anifarm, "jobs"], capture_output=True, text=True,
                                env=dict(env, ANIFARM_COORDINATOR=f"127.0.0.1:{port}"))
        check(result.returncode == 6 and "--token-file" in result.stderr
              and not re.search(r"--token\b(?!-)", result.stderr),
              f"no credentials should point at --token-file, got {result.returncode}:\n"
              f"{result.stderr}")
    finally:
        server.terminate()
        server.wait(10)


def main():
    bin_dir = sys.argv[1]
    anifarm = os.path.join(bin_dir, "anifarm")
    coordinator = os.path.join(bin_dir, "anifarm-coordinator")
    with tempfile.TemporaryDirectory(prefix="anifarm-operator-") as tmp:
        clip = os.path.join(tmp, "clip.mp4")
        subprocess.run([anifarm, "sample", clip, "--frames", "12", "--size", "64x48"],
                       check=True, capture_output=True)
        port, http = free_port(), f"127.0.0.1:{free_port()}"
        env = dict(os.environ, HOME=tmp, ANIFARM_COORDINATOR=f"127.0.0.1:{port}",
                   ANIFARM_CONFIG=os.path.join(tmp, "no-config.toml"))
        env.pop("ANIFARM_TOKEN", None)
        # No node: the job waits ("waiting: no live node") and a long
        # --stall-grace keeps it from failing for that during the test. The
        # coordinator only checks that the model's file is there; no node
        # ever loads this empty one.
        models = os.path.join(tmp, "models")
        os.mkdir(models)
        open(os.path.join(models, "2x-AniScale.pth"), "wb").close()
        server = subprocess.Popen([coordinator, "--listen", f"127.0.0.1:{port}", "--state-dir",
                                   os.path.join(tmp, "state"), "--models-dir", models,
                                   "--http", http, "--stall-grace", "600"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            job_id = signal_test(anifarm, env, clip, tmp)
            if job_id:
                json_test(anifarm, env, job_id, http)
                message_test(anifarm, env, clip, tmp, job_id)
            token_message_test(coordinator, anifarm, env, tmp)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
    for failure in FAILURES:
        print("FAIL:", failure)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
