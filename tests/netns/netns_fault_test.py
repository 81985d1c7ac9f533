#!/usr/bin/env python3
"""Network faults between hosts: a link cut mid-job, then restored (issue 8).

The coordinator and two CPU nodes each run in a network namespace of their
own (`ip netns`), joined by veth pairs to a bridge in the coordinator's
namespace on a private /24 of the test's own making (10.213.N.0/24 unless
that is in use on this machine). The coordinator listens on its namespace's
address, so it runs as it would between real hosts: TLS (a throw-away CA and
a server certificate for that address, made with the openssl command) and a
token file (an admin for the client, one node token per node).

Mid-job, while node A holds a lease, the test takes node A's link down
(`ip link set ... down` on its veth). The lease must expire (short
--lease-timeout) and node B must pick the chunk up; then the link comes back
and node A must reach the coordinator again and upscale more frames. While
node A is cut off the job is paused (`anifarm pause`, resumed for node B to
take the chunk and again once node A is back), so that work is left for node
A however fast node B is; leases expire the same in a paused job. The job
must end JOB_DONE with nothing lost or duplicated:
  * `anifarm submit --wait` exits 0, the job is JOB_DONE, all chunks done;
  * frames_upscaled == unique_frames and frames_upscaled + frames_reused ==
    total_frames == the clip's frame count; the nodes' frames_upscaled add
    up to the job's (a late result from node A was not counted);
  * the --frame-map file lists every output frame exactly once, each mapped
    to a first occurrence, with as many first occurrences as unique_frames;
  * the output is 2x the source and (when ffprobe is installed) has exactly
    the source's frame count;
  * /metrics shows anifarm_lease_expiries_total >= 1: the cut really bit.

Exit status 0 pass, 1 fail, 77 skipped: not root, no `ip` command, or the
machine does not allow network namespaces / veth / bridges (a container
without CAP_NET_ADMIN). Namespaces and processes are removed on every exit
(pass, failure, Ctrl-C, SIGTERM); namespaces left by a run that was killed
outright (SIGKILL, e.g. a CTest timeout) are removed by the next run.
Logs are kept in the printed temporary folder when the test fails (always
with ANIFARM_NETNS_KEEP=1). Runs in about 30-60 s on an idle 2-core machine.

usage: netns_fault_test.py BIN_DIR MODELS_DIR
       netns_fault_test.py --self-test   (the checks against doctored results;
                                          no root, no network, no binaries)
"""
import ctypes
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
PREFIX = "anifarm-nt"  # namespaces: anifarm-nt-<pid>-{c,a,b}
FRAMES = 144
WIDTH, HEIGHT = 96, 64
CHUNK_FRAMES = 12  # one GOP of `anifarm sample` (chunks are whole GOPs)
LEASE_SECONDS = 5
GRPC_PORT = 50051
HTTP_PORT = 8443
MODEL = "2x-AniScale"
DEADLINE_SECONDS = 780  # below the CTest TIMEOUT, so the test fails (and cleans up) itself


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def log(message):
    print(f"[netns {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- the checks
# Pure functions of the results, so that --self-test can show that each one
# fails on a doctored result.

def parse_metric(text, name):
    """The value of an unlabelled Prometheus sample, or None."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def check_job(job, frames, width, height):
    """JobStatus JSON (as `anifarm status --json` prints it) against the clip."""
    problems = []
    num = lambda key: int(job.get(key, 0) or 0)  # int64 fields are JSON strings
    if job.get("state") != "JOB_DONE":
        problems.append(f"job state {job.get('state')}: {job.get('error', '')}")
    if num("total_frames") != frames:
        problems.append(f"total_frames {num('total_frames')}, the clip has {frames}")
    if num("frames_upscaled") != num("unique_frames"):
        problems.append(f"frames_upscaled {num('frames_upscaled')} != unique_frames "
                        f"{num('unique_frames')} (frames lost or upscaled twice)")
    if num("frames_upscaled") + num("frames_reused") != num("total_frames"):
        problems.append(f"frames_upscaled {num('frames_upscaled')} + frames_reused "
                        f"{num('frames_reused')} != total_frames {num('total_frames')}")
    if not 0 < num("unique_frames") < frames:
        problems.append(f"unique_frames {num('unique_frames')}: the clip should hold "
                        "repeated frames (dedup untested)")
    if num("chunks_total") == 0 or num("chunks_done") != num("chunks_total"):
        problems.append(f"chunks_done {num('chunks_done')} of {num('chunks_total')}")
    if num("chunks_running") != 0:
        problems.append(f"chunks_running {num('chunks_running')} after the job ended")
    if (num("output_width"), num("output_height")) != (2 * width, 2 * height):
        problems.append(f"output {num('output_width')}x{num('output_height')}, expected "
                        f"{2 * width}x{2 * height}")
    return problems


def check_nodes(nodes, job):
    """Per-node frame counts (ListNodesResponse JSON) add up to the job's."""
    problems = []
    total = sum(int(node.get("frames_upscaled", 0) or 0) for node in nodes)
    if total != int(job.get("frames_upscaled", 0) or 0):
        problems.append(f"the nodes upscaled {total} frames in all, the job counts "
                        f"{job.get('frames_upscaled')}")
    return problems


def check_frame_map(text, frames, unique):
    """The --frame-map file: every frame once, each mapped to a first occurrence."""
    problems = []
    duplicated = []

    def pairs_hook(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                duplicated.append(key)
            seen.add(key)
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook)
    except ValueError as error:
        return [f"frame map is not JSON: {error}"]
    mapping = data.get("frame_mapping", {})
    if duplicated:
        problems.append(f"frame map lists {sorted(set(duplicated))[:5]} more than once")
    expected = [f"frame_{i:06d}.png" for i in range(1, frames + 1)]
    missing = sorted(set(expected) - set(mapping))
    extra = sorted(set(mapping) - set(expected))
    if missing:
        problems.append(f"frame map lacks {len(missing)} frame(s), e.g. {missing[:3]}")
    if extra:
        problems.append(f"frame map has unknown frame(s) {extra[:3]}")
    for frame, source in mapping.items():
        if source not in mapping or source > frame or mapping.get(source) != source:
            problems.append(f"frame map: {frame} -> {source} is not an earlier first occurrence")
            break
    firsts = sum(1 for frame, source in mapping.items() if frame == source)
    if firsts != unique:
        problems.append(f"frame map has {firsts} first occurrences, the job {unique} unique frames")
    if data.get("total_frames") != frames or data.get("unique_frames") != unique:
        problems.append(f"frame map totals {data.get('total_frames')}/{data.get('unique_frames')},"
                        f" expected {frames}/{unique}")
    return problems


def check_metrics(text, job):
    problems = []
    expiries = parse_metric(text, "anifarm_lease_expiries_total")
    if expiries is None or expiries < 1:
        problems.append(f"anifarm_lease_expiries_total is {expiries}: the cut never made a "
                        "lease expire")
    upscaled = parse_metric(text, "anifarm_frames_upscaled_total")
    if upscaled != int(job.get("frames_upscaled", 0) or 0):
        problems.append(f"anifarm_frames_upscaled_total {upscaled} != the job's "
                        f"{job.get('frames_upscaled')}")
    return problems


def self_test():
    """Each check passes on a good result and fails on a doctored one."""
    good_job = {"state": "JOB_DONE", "total_frames": "72", "unique_frames": "32",
                "frames_upscaled": "32", "frames_reused": "40", "chunks_total": 12,
                "chunks_done": 12, "chunks_running": 0, "output_width": 320,
                "output_height": 192}
    mapping = {f"frame_{i:06d}.png": f"frame_{(i - 1) // 2 * 2 + 1:06d}.png" for i in range(1, 73)}
    # 36 firsts with that mapping; make 4 of them point back to frame 1 to get 32.
    for i in (3, 5, 7, 9):
        mapping[f"frame_{i:06d}.png"] = "frame_000001.png"
        mapping[f"frame_{i + 1:06d}.png"] = "frame_000001.png"
    good_map = json.dumps({"total_frames": 72, "unique_frames": 32,
                           "frame_mapping": mapping}, indent=2)
    good_metrics = "anifarm_lease_expiries_total 1\nanifarm_frames_upscaled_total 32\n"
    good_nodes = [{"frames_upscaled": "20"}, {"frames_upscaled": "12"}]
    cases = [
        ("good job", check_job(good_job, 72, 160, 96), False),
        ("good nodes", check_nodes(good_nodes, good_job), False),
        ("good frame map", check_frame_map(good_map, 72, 32), False),
        ("good metrics", check_metrics(good_metrics, good_job), False),
        ("a frame upscaled twice", check_job(dict(good_job, frames_upscaled="33"), 72, 160, 96),
         True),
        ("a frame lost", check_job(dict(good_job, frames_reused="39"), 72, 160, 96), True),
        ("job failed", check_job(dict(good_job, state="JOB_FAILED"), 72, 160, 96), True),
        ("short output", check_job(dict(good_job, total_frames="66"), 72, 160, 96), True),
        ("late result counted on a node",
         check_nodes(good_nodes + [{"frames_upscaled": "3"}], good_job), True),
        ("no lease expired", check_metrics(good_metrics.replace("expiries_total 1",
                                                                "expiries_total 0"), good_job),
         True),
        ("metric missing", check_metrics("anifarm_frames_upscaled_total 32\n", good_job), True),
        ("frame listed twice", check_frame_map(
            good_map.replace('"frame_000072.png": "frame_000071.png"',
                             '"frame_000072.png": "frame_000071.png",\n'
                             '    "frame_000072.png": "frame_000071.png"'), 72, 32), True),
        ("frame missing", check_frame_map(json.dumps(
            {"total_frames": 72, "unique_frames": 32,
             "frame_mapping": {k: v for k, v in mapping.items() if k != "frame_000040.png"}}),
            72, 32), True),
        ("frame mapped forward", check_frame_map(
            good_map.replace('"frame_000002.png": "frame_000001.png"',
                             '"frame_000002.png": "frame_000004.png"'), 72, 32), True),
    ]
    failures = 0
    for name, problems, should_fail in cases:
        ok = bool(problems) == should_fail
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {problems or 'no problems'}")
    return 1 if failures else 0


# ------------------------------------------------------------- the network

def find_ip():
    for candidate in (shutil.which("ip"), "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def run(argv, check=True, timeout=60, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise Failure(f"{' '.join(argv)} exited {result.returncode}: "
                      f"{(result.stderr or result.stdout).strip()}")
    return result


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pick_subnet(ip):
    """A /24 no address or route of this machine's own namespace overlaps.

    The test's namespaces have their own routing tables, so a clash could not
    break anything here; picking an unused range keeps logs and `ip` output
    unambiguous all the same.
    """
    used = []
    for argv in ([ip, "-o", "-4", "addr", "show"], [ip, "-4", "route", "show", "table", "all"]):
        text = run(argv, check=False).stdout
        for token in re.findall(r"\b\d+\.\d+\.\d+\.\d+(?:/\d+)?\b", text):
            try:
                network = ipaddress.ip_network(token, strict=False)
            except ValueError:
                continue
            if network.prefixlen > 0:  # not the default route
                used.append(network)
    for base in ("10.213", "10.231", "172.29", "192.168"):
        for third in [os.getpid() % 200 + 20] + list(range(20, 250)):
            subnet = ipaddress.ip_network(f"{base}.{third}.0/24")
            if not any(subnet.overlaps(network) for network in used):
                return subnet
    raise Skip("no free private /24 for the test's network")


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # PR_SET_DEATHSIG: the farm's processes go down with the test even when
    # the test itself is SIGKILLed; `ip netns exec` execs, so it carries over.
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


class Farm:
    """Namespaces, links and processes of one run; close() undoes all of it."""

    def __init__(self, ip, bin_dir, models, tmp):
        self.ip, self.bin_dir, self.models, self.tmp = ip, bin_dir, models, tmp
        base = f"{PREFIX}-{os.getpid()}"
        self.ns = {"c": base + "-c", "a": base + "-a", "b": base + "-b"}
        self.created = []
        self.processes = []  # (name, Popen, log path)
        self.subnet = None
        self.address = {}

    # --- network
    def sweep_stale(self):
        """Namespaces of earlier runs whose test process is gone."""
        listing = run([self.ip, "netns", "list"], check=False).stdout
        for name in re.findall(rf"^({re.escape(PREFIX)}-(\d+)-[cab])\b", listing, re.MULTILINE):
            namespace, pid = name[0], int(name[1])
            if pid == os.getpid() or pid_alive(pid):
                continue
            log(f"removing namespace {namespace} left by an earlier run (pid {pid})")
            pids = run([self.ip, "netns", "pids", namespace], check=False).stdout.split()
            for leftover in pids:
                try:
                    os.kill(int(leftover), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run([self.ip, "netns", "del", namespace], check=False)

    def setup_network(self):
        self.sweep_stale()
        for key in ("c", "a", "b"):
            result = run([self.ip, "netns", "add", self.ns[key]], check=False)
            if result.returncode != 0:
                raise Skip(f"`ip netns add` not allowed here ({result.stderr.strip()}); "
                           "needs root with CAP_NET_ADMIN/CAP_SYS_ADMIN")
            self.created.append(self.ns[key])
        self.subnet = pick_subnet(self.ip)
        hosts = list(self.subnet.hosts())
        self.address = {"c": str(hosts[0]), "a": str(hosts[1]), "b": str(hosts[2])}
        c = self.ns["c"]
        try:
            run([self.ip, "-n", c, "link", "add", "br0", "type", "bridge"])
            for key in ("a", "b"):
                # veth "v<key>" stays in the coordinator's namespace on the
                # bridge; its peer becomes eth0 of the node's namespace.
                run([self.ip, "-n", c, "link", "add", "v" + key, "type", "veth",
                     "peer", "name", "eth0", "netns", self.ns[key]])
                run([self.ip, "-n", c, "link", "set", "v" + key, "master", "br0"])
        except Failure as error:
            raise Skip(f"cannot make veth pairs or a bridge here: {error}")
        for key in ("c", "a", "b"):
            run([self.ip, "-n", self.ns[key], "link", "set", "lo", "up"])
        run([self.ip, "-n", c, "addr", "add", f"{self.address['c']}/24", "dev", "br0"])
        run([self.ip, "-n", c, "link", "set", "br0", "up"])
        for key in ("a", "b"):
            run([self.ip, "-n", c, "link", "set", "v" + key, "up"])
            run([self.ip, "-n", self.ns[key], "addr", "add", f"{self.address[key]}/24",
                 "dev", "eth0"])
            run([self.ip, "-n", self.ns[key], "link", "set", "eth0", "up"])
        log(f"namespaces {', '.join(self.created)} on {self.subnet} "
            f"(coordinator {self.address['c']}, node A {self.address['a']}, "
            f"node B {self.address['b']})")

    def set_link(self, key, up):
        run([self.ip, "-n", self.ns["c"], "link", "set", "v" + key, "up" if up else "down"])

    # --- processes
    def spawn(self, key, name, argv, stdout_path=None):
        path = os.path.join(self.tmp, name + ".log")
        err = open(path, "wb")
        out = open(stdout_path, "wb") if stdout_path else err
        process = subprocess.Popen([self.ip, "netns", "exec", self.ns[key]] + argv,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   start_new_session=True, preexec_fn=_die_with_parent)
        err.close()
        if stdout_path:
            out.close()
        self.processes.append((name, process, path))
        return process

    def in_ns(self, key, argv, timeout=60):
        return run([self.ip, "netns", "exec", self.ns[key]] + argv, check=False,
                   timeout=timeout)

    def stop(self, process, timeout=20):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def close(self):
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                process.kill()
                process.wait()
        for namespace in reversed(self.created):
            # Anything still inside (there should be nothing) goes first.
            for leftover in run([self.ip, "netns", "pids", namespace], check=False).stdout.split():
                try:
                    os.kill(int(leftover), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            result = run([self.ip, "netns", "del", namespace], check=False)
            if result.returncode != 0:
                print(f"warning: cannot delete namespace {namespace}: {result.stderr.strip()}")
        self.created = []

    def log_tails(self, lines=25):
        out = []
        for name, _, path in self.processes:
            try:
                with open(path, "r", errors="replace") as handle:
                    tail = handle.read().splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"--- {name} ({path}), last {len(tail)} lines:\n" + "\n".join(tail))
        return "\n".join(out)


# A fetch from inside the coordinator's namespace (the test itself stays in
# the machine's own namespace): URL, CA file ('' for plain http), token file.
FETCH = r"""
import ssl, sys, urllib.request
url, ca, token_file = sys.argv[1:4]
token = open(token_file).read().strip()
context = ssl.create_default_context(cafile=ca) if ca else None
request = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
sys.stdout.write(urllib.request.urlopen(request, timeout=10, context=context).read().decode())
"""


def make_pki(tmp, address):
    """A CA and a server certificate for the coordinator's namespace address."""
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    pki = os.path.join(tmp, "pki")
    os.makedirs(pki)

    def ssl_cmd(*args):
        run([openssl] + list(args), cwd=pki)

    ssl_cmd("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    ssl_cmd("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=AniFarm netns test CA",
            "-days", "2", "-out", "ca.pem")
    ssl_cmd("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
    ssl_cmd("req", "-new", "-key", "server.key", "-subj", f"/CN={address}", "-out", "server.csr")
    with open(os.path.join(pki, "server.ext"), "w") as handle:
        handle.write(f"subjectAltName=IP:{address}\nextendedKeyUsage=serverAuth\n")
    ssl_cmd("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem")
    return {name: os.path.join(pki, name) for name in ("ca.pem", "server.pem", "server.key")}


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def wait_until(what, predicate, timeout, interval=0.3, alive=()):
    """Polls predicate() until it returns something truthy; fails after timeout
    or as soon as one of the processes in `alive` has exited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for name, process in alive:
            if process.poll() is not None:
                raise Failure(f"{name} exited ({process.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def count_frames(path):
    """Video frames in a file by ffprobe, or None when ffprobe is not installed."""
    ffprobe = shutil.which("ffprobe")
    if not ffprobe:
        return None
    result = run([ffprobe, "-v", "error", "-select_streams", "v:0", "-count_frames",
                  "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path],
                 check=False, timeout=120)
    try:
        return int(result.stdout.strip().split(",")[0])
    except ValueError:
        raise Failure(f"ffprobe cannot count the frames of {path}: {result.stderr.strip()}")


def scenario(farm, bin_dir, models, tmp):
    started = time.monotonic()
    anifarm = os.path.join(bin_dir, "anifarm")
    clip = os.path.join(tmp, "clip.mp4")
    output = os.path.join(tmp, "out.mp4")
    frame_map = os.path.join(tmp, "frame_mapping.json")
    run([anifarm, "sample", clip, "--frames", str(FRAMES), "--size", f"{WIDTH}x{HEIGHT}"])

    farm.setup_network()
    address = farm.address["c"]
    grpc_address = f"{address}:{GRPC_PORT}"

    tokens = {name: secrets.token_hex(16) for name in ("tester", "node-a", "node-b")}
    token_list = write_secret(os.path.join(tmp, "tokens"),
                              f"admin tester {tokens['tester']}\n"
                              f"node node-a {tokens['node-a']}\n"
                              f"node node-b {tokens['node-b']}\n")
    token_file = {name: write_secret(os.path.join(tmp, name + ".token"), token + "\n")
                  for name, token in tokens.items()}
    pki = make_pki(tmp, address)
    if pki:
        transport = ["--tls-cert", pki["server.pem"], "--tls-key", pki["server.key"]]
        client_tls = ["--tls-ca", pki["ca.pem"]]
        scheme, ca = "https", pki["ca.pem"]
    else:
        # No openssl: plaintext with tokens. --insecure is what lets a
        # coordinator listen on a non-loopback address without TLS; the
        # address here is on the test's own private link, reachable from
        # nothing but the test's namespaces.
        log("openssl not found: plaintext gRPC (--insecure) with tokens")
        transport = ["--insecure"]
        client_tls = []
        scheme, ca = "http", ""

    coordinator = farm.spawn("c", "coordinator", [
        os.path.join(bin_dir, "anifarm-coordinator"), "--listen", grpc_address,
        "--state-dir", os.path.join(tmp, "state"), "--models-dir", models,
        "--chunk-frames", str(CHUNK_FRAMES), "--lease-timeout", str(LEASE_SECONDS),
        "--http", f"{address}:{HTTP_PORT}", "--tokens", token_list] + transport)

    def api(path):
        result = farm.in_ns("c", [sys.executable, "-c", FETCH,
                                  f"{scheme}://{address}:{HTTP_PORT}{path}", ca,
                                  token_file["tester"]], timeout=30)
        return result.stdout if result.returncode == 0 else None

    def api_json(path):
        text = api(path)
        return json.loads(text) if text else None

    wait_until("the coordinator's /metrics", lambda: api("/metrics"), 60,
               alive=[("the coordinator", coordinator)])

    nodes = {}
    for key in ("a", "b"):
        nodes[key] = farm.spawn(key, f"node-{key}", [
            os.path.join(bin_dir, "anifarm-node"), "--coordinator", grpc_address,
            "--cache-dir", os.path.join(tmp, f"cache-{key}"), "--device", "cpu",
            "--token-file", token_file[f"node-{key}"]] + client_tls)
    watched = [("the coordinator", coordinator), ("node A", nodes["a"]), ("node B", nodes["b"])]

    def node_ids():
        listing = api_json("/api/nodes") or {}
        by_name = {node.get("principal"): node for node in listing.get("nodes", [])}
        if "node-a" in by_name and "node-b" in by_name:
            return {"a": by_name["node-a"]["node_id"], "b": by_name["node-b"]["node_id"]}
        return None

    ids = wait_until("both nodes to register", node_ids, 60, alive=watched)
    log(f"nodes registered: A {ids['a']}, B {ids['b']}")

    def node_info(key):
        listing = api_json("/api/nodes") or {}
        for node in listing.get("nodes", []):
            if node.get("node_id") == ids[key]:
                return node
        return {}

    def node_frames(key):
        return int(node_info(key).get("frames_upscaled", 0) or 0)

    submit = farm.spawn("c", "submit", [
        anifarm, "submit", clip, "-o", output, "--model", MODEL, "--frame-map", frame_map,
        "--wait", "--coordinator", grpc_address, "--token-file", token_file["tester"]]
        + client_tls, stdout_path=os.path.join(tmp, "submit.out"))
    watched.append(("anifarm submit --wait", submit))

    def job_id():
        listing = api_json("/api/jobs") or {}
        jobs = listing.get("jobs", [])
        return jobs[0]["job_id"] if jobs else None

    job = wait_until("the job to appear", job_id, 60, alive=watched)
    log(f"job {job} submitted: {FRAMES} frames {WIDTH}x{HEIGHT}, chunks of {CHUNK_FRAMES}, "
        f"lease timeout {LEASE_SECONDS} s")

    def chunks():
        return (api_json(f"/api/jobs/{job}/chunks") or {}).get("chunks", [])

    def lease_held_by_a():
        """Node A's lease, once node A has finished a chunk (model loaded)."""
        if node_frames("a") == 0:
            return None
        for chunk in chunks():
            if chunk.get("state") == "CHUNK_LEASED" and chunk.get("node_id") == ids["a"]:
                return chunk
        return None

    def expiries():
        return parse_metric(api("/metrics") or "", "anifarm_lease_expiries_total") or 0

    def job_action(action):
        result = farm.in_ns("c", [anifarm, action, job, "--coordinator", grpc_address,
                                  "--token-file", token_file["tester"]] + client_tls)
        if result.returncode != 0:
            raise Failure(f"anifarm {action} exited {result.returncode}: {result.stderr.strip()}")

    def chunk(index):
        for info in chunks():
            if int(info.get("chunk_index", -1)) == index:
                return info
        return {}

    # --- the cut. The job is paused while node A is away: not to help the
    # farm (leases expire and are requeued whether a job runs or is paused),
    # but so that work is left for node A when it comes back however fast
    # node B is; on an idle machine node B could otherwise finish the whole
    # job before node A's TCP retransmissions reach the coordinator again.
    # Which lease node A holds is read after the cut: once the link is down
    # that cannot change but by expiry. If node A's result and its next lease
    # request fell just before the cut, it holds none; then the link comes
    # back and the test tries again (3 times at most).
    for attempt in range(1, 4):
        wait_until("node A to hold a lease after finishing a chunk", lease_held_by_a,
                   300, alive=watched)
        farm.set_link("a", up=False)
        cut_at = time.monotonic()
        job_action("pause")
        time.sleep(0.5)  # calls that arrived before the cut are answered by now
        current = chunks()
        held = [info for info in current
                if info.get("state") == "CHUNK_LEASED" and info.get("node_id") == ids["a"]]
        queued = sum(1 for info in current if info.get("state") == "CHUNK_QUEUED")
        if held:
            break
        log(f"node A held no lease when its link went down (try {attempt}); trying again")
        farm.set_link("a", up=True)
        job_action("resume")
    else:
        raise Failure("node A never held a lease when its link went down (3 tries)")
    index, held_attempt = int(held[0]["chunk_index"]), int(held[0].get("attempt", 0))
    log(f"cut node A's link while it holds chunk {index} (attempt {held_attempt}); node A has "
        f"upscaled {node_frames('a')} frames; job paused with {queued} chunks queued")
    if queued < 3:
        raise Failure(f"only {queued} chunks were left when node A was cut: the clip is too "
                      "short for this machine (raise FRAMES)")

    wait_until(f"chunk {index}'s lease to expire",
               lambda: expiries() >= 1 and chunk(index).get("state") == "CHUNK_QUEUED",
               4 * LEASE_SECONDS + 30, interval=0.2, alive=watched)
    log(f"chunk {index}'s lease expired {time.monotonic() - cut_at:.1f} s after the cut "
        f"(lease expiries {expiries():g}); resuming the job for node B")

    # Node B takes the chunk (it is the lowest queued one), then the job is
    # paused again so that the rest waits for node A.
    job_action("resume")

    def taken_by_b():
        info = chunk(index)
        if int(info.get("attempt", 0)) > held_attempt and info.get("node_id") == ids["b"]:
            return info.get("state")
        if info.get("state") == "CHUNK_DONE" and int(info.get("attempt", 0)) > held_attempt:
            return "CHUNK_DONE"
        return None

    taken = wait_until(f"node B to take chunk {index}", taken_by_b, 120, interval=0.1,
                       alive=watched)
    job_action("pause")
    log(f"node B took chunk {index} ({taken}); job paused again")
    frames_a_at_restore = node_frames("a")
    seen_a_before = int(node_info("a").get("last_seen", 0) or 0)
    farm.set_link("a", up=True)
    restored_at, restored_wall = time.monotonic(), time.time()
    log(f"restored node A's link after {restored_at - cut_at:.1f} s; node A has upscaled "
        f"{frames_a_at_restore} frames, node B {node_frames('b')}")

    # --- node A must come back (call the coordinator again) and work again.
    wait_until("node A to reach the coordinator again after the link came back",
               lambda: int(node_info("a").get("last_seen", 0) or 0) > max(seen_a_before,
                                                                          int(restored_wall)),
               120, interval=0.5, alive=watched)
    log(f"node A back in touch {time.monotonic() - restored_at:.1f} s after the restore")
    wait_until(f"node B to finish chunk {index}",
               lambda: chunk(index).get("state") == "CHUNK_DONE", 300, interval=0.5,
               alive=watched)
    time.sleep(1)  # one more idle poll of node A's, so it is not in an error backoff
    job_action("resume")
    log("job resumed")
    wait_until("node A to upscale again after the link came back",
               lambda: node_frames("a") > frames_a_at_restore, 300, interval=0.5, alive=watched)
    log(f"node A upscaling again {time.monotonic() - restored_at:.1f} s after the restore")
    remaining = max(30, DEADLINE_SECONDS - (time.monotonic() - started))
    try:
        submit_rc = submit.wait(remaining)
    except subprocess.TimeoutExpired:
        raise Failure(f"anifarm submit --wait still running after {remaining:.0f} s")
    log(f"anifarm submit --wait exited {submit_rc} after {time.monotonic() - started:.1f} s")

    # --- results
    problems = []
    if submit_rc != 0:
        problems.append(f"anifarm submit --wait exited {submit_rc}")
    status = farm.in_ns("c", [anifarm, "status", job, "--json", "--coordinator", grpc_address,
                              "--token-file", token_file["tester"]] + client_tls)
    if status.returncode != 0:
        raise Failure(f"anifarm status exited {status.returncode}: {status.stderr}")
    job_status = json.loads(status.stdout)
    log("job: " + ", ".join(f"{key} {job_status.get(key)}" for key in (
        "state", "total_frames", "unique_frames", "frames_upscaled", "frames_reused",
        "chunks_done", "chunks_total", "output_width", "output_height")))
    problems += check_job(job_status, FRAMES, WIDTH, HEIGHT)

    node_list = (api_json("/api/nodes") or {}).get("nodes", [])
    log("nodes: " + ", ".join(f"{n.get('principal')} {n.get('frames_upscaled')} frames in "
                              f"{n.get('chunks_done')} chunks" for n in node_list))
    problems += check_nodes(node_list, job_status)
    if node_frames("a") <= frames_a_at_restore:
        problems.append(f"node A upscaled nothing after its link came back "
                        f"({frames_a_at_restore} frames before, {node_frames('a')} after)")

    metrics = api("/metrics") or ""
    log(f"metrics: lease expiries {parse_metric(metrics, 'anifarm_lease_expiries_total')}, "
        f"chunk failures {parse_metric(metrics, 'anifarm_chunk_failures_total')}")
    problems += check_metrics(metrics, job_status)

    if not os.path.isfile(frame_map):
        problems.append(f"no frame map at {frame_map}")
    else:
        with open(frame_map) as handle:
            problems += check_frame_map(handle.read(), FRAMES,
                                        int(job_status.get("unique_frames", 0) or 0))
    if not os.path.isfile(output) or os.path.getsize(output) == 0:
        problems.append(f"no output (or an empty one) at {output}")
    else:
        counted = count_frames(output)
        if counted is None:
            log("ffprobe not installed: output frame count not checked (frame map only)")
        elif counted != FRAMES:
            problems.append(f"the output has {counted} video frames, the clip {FRAMES}")
        else:
            log(f"output: {counted} frames (ffprobe)")

    # Everything stops cleanly; node A's process must have survived the cut.
    for name, process in watched[1:3] + watched[:1]:
        code = farm.stop(process)
        if code != 0:
            problems.append(f"{name} exited {code} on SIGTERM")
    if problems:
        raise Failure("\n  ".join(["the job did not survive the cut cleanly:"] + problems))
    log(f"PASS in {time.monotonic() - started:.1f} s")


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        return self_test()
    if len(sys.argv) != 3:
        print("usage: netns_fault_test.py BIN_DIR MODELS_DIR | --self-test", file=sys.stderr)
        return 2
    bin_dir, models = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        print("SKIP: network namespaces need root (run as root to test link cuts)")
        return SKIP
    ip = find_ip()
    if not ip:
        print("SKIP: no `ip` command (install iproute2)")
        return SKIP
    if not os.path.isfile(os.path.join(models, MODEL + ".pth")):
        print(f"FAIL: model {MODEL} missing in {models}: run `anifarm models fetch "
              f"--models-dir {models}`")
        return 1

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    tmp = tempfile.mkdtemp(prefix="anifarm-netns-")
    farm = Farm(ip, bin_dir, models, tmp)
    passed = False
    try:
        scenario(farm, bin_dir, models, tmp)
        passed = True
        return 0
    except Skip as skip:
        print(f"SKIP: {skip}")
        passed = True  # nothing worth keeping
        return SKIP
    except Failure as failure:
        print(f"FAIL: {failure}")
        print(farm.log_tails())
        return 1
    except KeyboardInterrupt as interrupt:
        print(f"interrupted ({interrupt}); cleaning up")
        return 130
    finally:
        farm.close()
        if passed and not os.environ.get("ANIFARM_NETNS_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}")


if __name__ == "__main__":
    sys.exit(main())
