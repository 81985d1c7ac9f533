#!/usr/bin/env python3
"""Checks that deploy/ agrees with the binaries.

    python3 tests/deploy/manifests_test.py BIN_DIR [SOURCE_DIR]

Reads the Kubernetes manifests (deploy/k8s), the systemd units and their
/etc/default examples (deploy/systemd) and the Dockerfiles (deploy/docker),
and checks that:
  - every flag they pass exists in the binary's --help, and the binary's own
    parser accepts the whole command line (run as `BINARY ARGS... --help`,
    which parses everything and then only prints the usage);
  - ports agree: the coordinator's gRPC port is the binary's default
    (coordinator/main.cc), the dashboard port is the one its usage
    documents, and containerPorts, Services, probes, Prometheus annotations,
    EXPOSE, the nodes' --coordinator and ANIFARM_COORDINATOR all use them;
  - probes target a port of the container, HTTP probes a path the dashboard
    serves (and none that needs a token), gRPC probes only if the coordinator
    serves grpc.health.v1, and on the --health port when there is one (the
    kubelet cannot speak TLS), which is then a containerPort (and EXPOSEd);
  - access control (issue 8): a coordinator on a non-loopback --listen or
    --http has --tls-cert/--tls-key and --tokens (it refuses to start
    otherwise) and never --insecure; nodes talking to it pass --tls-ca and a
    token or a client certificate; systemd units that get them from
    /etc/default have a commented example there that satisfies this;
  - credential files (--tls-cert, --tls-key, --tls-client-ca, --tokens,
    --tls-ca, --token-file) lie under a read-only mount of a Secret and name
    keys the Secret defines (through its items:, if any); secretKeyRef env
    names an existing key;
  - volume mounts equal --state-dir / --cache-dir (and systemd's
    StateDirectory= / CacheDirectory=, Docker's VOLUME);
  - referenced ConfigMaps, Secrets and PVCs exist, the kustomization lists
    every manifest (except templates: files of Secrets whose values are all
    empty, created by hand), the coordinator has exactly one replica.
Needs PyYAML (Debian: python3-yaml). Exit 0 pass, 1 mismatch, 2 usage.
"""

import glob
import os
import re
import shlex
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("FAIL: this test needs PyYAML (Debian package python3-yaml; "
          "scripts/install-deps.sh --tests installs it)", file=sys.stderr)
    sys.exit(1)

ERRORS = []
NOTES = []


def error(where, message):
    ERRORS.append(f"{where}: {message}")


def ok(message):
    NOTES.append(message)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --------------------------------------------------------------------------
# What the binaries accept and default to.


class Binary:
    """Flags (from --help), value-taking flags (from the CliArgs declaration
    in main.cc) and the path of the executable, if built."""

    def __init__(self, name, source_main, bin_dir):
        self.name = name
        self.path = os.path.join(bin_dir, name)
        self.source = read(source_main)
        match = re.search(r"CliArgs\s+args\(\s*\{([^}]*)\}\s*,\s*\{([^}]*)\}", self.source)
        if not match:
            raise SystemExit(f"FAIL: cannot find the CliArgs declaration in {source_main}")
        self.value_flags = set(re.findall(r'"([a-z0-9-]+)"', match.group(1)))
        self.switches = set(re.findall(r'"([a-z0-9-]+)"', match.group(2)))
        if os.access(self.path, os.X_OK):
            run = subprocess.run([self.path, "--help"], capture_output=True, text=True, timeout=30)
            if run.returncode != 0:
                raise SystemExit(f"FAIL: {self.path} --help exited {run.returncode}: {run.stderr}")
            self.help = run.stdout
            self.built = True
        else:
            # e.g. anifarm-node in a build without the engine: use the usage
            # text compiled into it, from the source.
            usage = re.search(r"kUsage\[\]\s*=\s*((?:\s*\"(?:[^\"\\]|\\.)*\")+)", self.source)
            self.help = "".join(re.findall(r"\"((?:[^\"\\]|\\.)*)\"", usage.group(1))) if usage else ""
            self.built = False
            NOTES.append(f"note: {self.path} is not built; its flags come from {source_main}")
        self.help_flags = set(re.findall(r"--([a-z][a-z0-9-]*)", self.help))
        undocumented = (self.value_flags | self.switches) - self.help_flags - {"help"}
        if undocumented:
            error(self.name, f"flags parsed but missing from --help: {sorted(undocumented)}")

    def parse(self, args, where):
        """Splits args into {flag: value}; reports unknown flags."""
        flags = {}
        i = 0
        while i < len(args):
            arg = args[i]
            if not arg.startswith("--"):
                error(where, f"unexpected positional argument {arg!r} for {self.name}")
                i += 1
                continue
            name, eq, inline = arg[2:].partition("=")
            if name not in self.help_flags:
                error(where, f"{self.name} has no flag --{name} (its --help lists "
                             f"{', '.join('--' + f for f in sorted(self.help_flags))})")
            if name in self.switches:
                flags[name] = True
            elif eq:
                flags[name] = inline
            elif i + 1 < len(args):
                flags[name] = args[i + 1]
                i += 1
            else:
                error(where, f"--{name} has no value")
            i += 1
        return flags

    def accepts(self, args, where):
        """Lets the binary's own parser judge the command line."""
        if not self.built:
            return
        run = subprocess.run([self.path, *args, "--help"], capture_output=True, text=True,
                             timeout=30)
        if run.returncode != 0:
            message = run.stderr.strip().splitlines()[0] if run.stderr.strip() else ""
            if re.search(r"At Most 1 required but received", run.stderr):
                message += (" -- the binary refuses a flag given twice, but the systemd units "
                            "append /etc/default/ flags and document that a flag given again "
                            "wins (common/cli_args.cc: CLI11 multi_option_policy TakeLast)")
            error(where, f"{self.name} refuses {' '.join(args)}: {message}")


def split_host_port(value, where):
    match = re.fullmatch(r"(.*):(\d+)", str(value))
    if not match:
        error(where, f"{value!r} is not HOST:PORT")
        return None, None
    return match.group(1).strip("[]"), int(match.group(2))


LOOPBACK_HOSTS = ("localhost", "::1")

# Flags whose value is a credential file, per binary.
CREDENTIAL_FLAGS = {
    "anifarm-coordinator": ("tls-cert", "tls-key", "tls-client-ca", "tokens"),
    "anifarm-node": ("tls-ca", "tls-cert", "tls-key", "token-file"),
}


def is_loopback(host):
    return host in LOOPBACK_HOSTS or bool(re.fullmatch(r"127(\.\d{1,3}){3}", host or ""))


def check_coordinator_transport(flags, facts, where):
    """The coordinator's own start-up rule (coordinator/main.cc): off
    loopback it wants TLS and a token file, or --insecure. Deployment files
    must satisfy it without --insecure. Returns a list of problems."""
    problems = []
    if not facts.get("enforces_transport_policy"):
        return problems
    if flags.get("insecure"):
        problems.append("--insecure: a deployment must not run the farm in plaintext or open")
    if ("tls-cert" in flags) != ("tls-key" in flags):
        problems.append("--tls-cert and --tls-key go together")
    if "tls-client-ca" in flags and "tls-cert" not in flags:
        problems.append("--tls-client-ca needs --tls-cert")
    addresses = [("--listen", flags.get("listen", facts["listen_default"]))]
    if "http" in flags:
        addresses.append(("--http", flags["http"]))
    for flag, address in addresses:
        host, _ = split_host_port(address, where)
        if host is None or is_loopback(host):
            continue
        missing = [f"--{f}" for f in ("tls-cert", "tokens") if f not in flags]
        if missing:
            problems.append(f"{flag} {address} is reachable from other machines without "
                            f"{' and '.join(missing)}: the coordinator refuses to start (exit 2)")
    return problems


def node_credential_problems(flags, env, coordinator_flags):
    """A node of a coordinator with TLS needs --tls-ca; one with tokens a
    token (--token-file or $ANIFARM_NODE_TOKEN) or a client certificate the
    coordinator verifies (--tls-client-ca). Returns a list of problems."""
    problems = []
    if not coordinator_flags:
        return problems
    if "tls-cert" in coordinator_flags and "tls-ca" not in flags:
        problems.append("the coordinator uses TLS: the node needs --tls-ca (plaintext cannot connect)")
    if ("tls-cert" in flags) != ("tls-key" in flags):
        problems.append("--tls-cert and --tls-key go together")
    if "tokens" in coordinator_flags:
        has_token = "token-file" in flags or "ANIFARM_NODE_TOKEN" in env
        has_cert = "tls-cert" in flags
        if not (has_token or has_cert):
            problems.append("the coordinator has --tokens: the node needs --token-file (or "
                            "$ANIFARM_NODE_TOKEN) or --tls-cert/--tls-key, else it exits 6")
        if has_cert and not has_token and "tls-client-ca" not in coordinator_flags:
            problems.append("the node authenticates by certificate, but the coordinator has no "
                            "--tls-client-ca to verify it")
    return problems


def check_node_credentials(flags, env, coordinator_flags, where):
    for problem in node_credential_problems(flags, env, coordinator_flags):
        error(where, problem)


def default_file_examples(path, variable):
    """The values given to `variable` in an /etc/default file, commented out
    (#VAR="...") or not, each split into words as systemd splits $VAR."""
    examples = []
    if not os.path.exists(path):
        return examples
    for number, line in enumerate(read(path).splitlines(), 1):
        m = re.match(r"^#?\s*" + re.escape(variable) + r"=(.*)$", line.strip())
        if not m:
            continue
        try:
            value = shlex.split(m.group(1))
            words = shlex.split(value[0]) if value else []
        except ValueError as e:
            error(os.path.basename(path), f"line {number}: cannot parse {variable}: {e}")
            continue
        examples.append((number, words))
    return examples


# --------------------------------------------------------------------------
# Kubernetes.


def expand(value, env, where):
    def sub(match):
        name = match.group(1)
        if name not in env:
            error(where, f"$({name}) is not defined in the container's environment")
            return match.group(0)
        return str(env[name])
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, str(value))


def container_env(container, configmaps, where, secrets=None):
    env = {}
    for source in container.get("envFrom", []) or []:
        ref = source.get("configMapRef")
        if ref:
            if ref["name"] not in configmaps:
                error(where, f"envFrom configMapRef {ref['name']} does not exist")
            else:
                env.update(configmaps[ref["name"]])
    for item in container.get("env", []) or []:
        if "value" in item:
            env[item["name"]] = expand(item["value"], env, where)
        elif "valueFrom" in item:
            ref = item["valueFrom"].get("configMapKeyRef")
            if ref:
                data = configmaps.get(ref["name"])
                if data is None or ref["key"] not in data:
                    error(where, f"env {item['name']}: configMapKeyRef {ref} does not exist")
                else:
                    env[item["name"]] = data[ref["key"]]
            else:
                sref = item["valueFrom"].get("secretKeyRef")
                if sref and secrets is not None and not sref.get("optional"):
                    if sref["name"] not in secrets:
                        error(where, f"env {item['name']}: Secret {sref['name']} does not exist")
                    elif sref["key"] not in secrets[sref["name"]]:
                        error(where, f"env {item['name']}: Secret {sref['name']} has no key "
                                     f"{sref['key']} ({sorted(secrets[sref['name']])})")
                env[item["name"]] = "<from secret or field>"
    return env


def secret_file(path, container, volumes, secrets, where):
    """Checks that `path` is a file of a mounted Secret: under the mountPath
    of a (read-only) secret volume, naming one of its keys. Returns the key."""
    for m in container.get("volumeMounts", []) or []:
        root = m["mountPath"]
        if not (os.path.normpath(path).startswith(os.path.normpath(root).rstrip("/") + "/")):
            continue
        vol = volumes.get(m["name"], {})
        if "secret" not in vol:
            error(where, f"{path} is under {root}, which is not a Secret volume")
            return None
        if not m.get("readOnly"):
            error(where, f"the Secret volume at {root} should be mounted readOnly: true")
        relative = os.path.relpath(os.path.normpath(path), os.path.normpath(root))
        if m.get("subPath"):
            relative = os.path.join(m["subPath"], relative)
        items = vol["secret"].get("items")
        if items:
            keys = [i["key"] for i in items if os.path.normpath(i["path"]) == relative]
            if not keys:
                error(where, f"{path}: the volume {m['name']} projects only "
                             f"{sorted(i['path'] for i in items)} of its Secret")
                return None
            key = keys[0]
        else:
            key = relative
        name = vol["secret"]["secretName"]
        if name in secrets and key not in secrets[name]:
            error(where, f"{path}: Secret {name} has no key {key!r} ({sorted(secrets[name])})")
            return None
        return key
    error(where, f"{path} is not under the mountPath of a Secret volume "
                 f"({sorted(m['mountPath'] for m in container.get('volumeMounts', []) or [])})")
    return None


def named_ports(container):
    return {p.get("name"): p["containerPort"] for p in container.get("ports", []) or []}


def resolve_port(port, container, where):
    ports = named_ports(container)
    if isinstance(port, str) and not port.isdigit():
        if port not in ports:
            error(where, f"port name {port!r} is not a port of container {container['name']}")
            return None
        return ports[port]
    port = int(port)
    if port not in ports.values():
        error(where, f"port {port} is not a containerPort of {container['name']} "
                     f"({sorted(ports.values())})")
    return port


def under(path, root):
    path, root = os.path.normpath(path), os.path.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def check_k8s(source_dir, binaries, facts):
    k8s_dir = os.path.join(source_dir, "deploy", "k8s")
    files = sorted(glob.glob(os.path.join(k8s_dir, "*.yaml")) + glob.glob(os.path.join(k8s_dir, "*.yml")))
    if not files:
        error(k8s_dir, "no manifests")
        return
    docs = []
    kustomization = None
    for path in files:
        name = os.path.basename(path)
        try:
            loaded = [d for d in yaml.safe_load_all(read(path)) if d]
        except yaml.YAMLError as e:
            error(name, f"not valid YAML: {e}")
            continue
        if name in ("kustomization.yaml", "kustomization.yml"):
            kustomization = loaded[0]
            continue
        for doc in loaded:
            if "kind" not in doc or "apiVersion" not in doc:
                error(name, "a document without kind/apiVersion")
                continue
            docs.append((name, doc))
    def is_secret_template(fname):
        # A file holding only Secrets whose values are all empty documents
        # what to create by hand; applying it would wipe the real one.
        ours = [d for n, d in docs if n == fname]
        return bool(ours) and all(
            d["kind"] == "Secret" and not any(str(v).strip() for field in ("data", "stringData")
                                              for v in (d.get(field) or {}).values())
            for d in ours)

    if kustomization is not None:
        listed = set(kustomization.get("resources", []))
        present = {os.path.basename(p) for p in files} - {"kustomization.yaml", "kustomization.yml"}
        for missing in sorted(present - listed):
            if is_secret_template(missing):
                ok(f"ok: {missing}: a Secret template, created by hand, not applied by kustomization.yaml")
            else:
                error("kustomization.yaml", f"does not list {missing}")
        for fname in sorted(listed & present):
            if any(d["kind"] == "Secret" for n, d in docs if n == fname) and is_secret_template(fname):
                error("kustomization.yaml", f"lists {fname}, a Secret with empty values: "
                                            "`kubectl apply -k` would overwrite the real credentials")
        for extra in sorted(listed - present):
            error("kustomization.yaml", f"lists {extra}, which does not exist")

    def of_kind(*kinds):
        return [(n, d) for n, d in docs if d["kind"] in kinds]

    configmaps = {d["metadata"]["name"]: {k: str(v) for k, v in (d.get("data") or {}).items()}
                  for _, d in of_kind("ConfigMap")}
    secrets = {d["metadata"]["name"]: set(d.get("data") or {}) | set(d.get("stringData") or {})
               for _, d in of_kind("Secret")}
    pvcs = {d["metadata"]["name"] for _, d in of_kind("PersistentVolumeClaim")}
    services = of_kind("Service")
    namespaces = {d["metadata"]["name"] for _, d in of_kind("Namespace")}
    for name, doc in docs:
        ns = doc["metadata"].get("namespace")
        if doc["kind"] != "Namespace" and namespaces and ns not in namespaces:
            error(name, f"{doc['kind']} {doc['metadata']['name']} is in namespace {ns!r}, "
                        f"not one of {sorted(namespaces)}")

    workloads = of_kind("StatefulSet", "DaemonSet", "Deployment")
    coordinator_service_ports = {}
    coordinator_service_names = set()
    saw = {"anifarm-coordinator": False, "anifarm-node": False}
    for fname, work in workloads:
        wname = work["metadata"]["name"]
        spec = work["spec"]
        pod = spec["template"]
        pod_spec = pod["spec"]
        labels = pod["metadata"].get("labels", {})
        selector = spec.get("selector", {}).get("matchLabels", {})
        if any(labels.get(k) != v for k, v in selector.items()):
            error(fname, f"{wname}: selector {selector} does not match the pod labels {labels}")
        claim_templates = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", []) or []}
        volumes = {v["name"]: v for v in pod_spec.get("volumes", []) or []}
        for vname, vol in volumes.items():
            if "persistentVolumeClaim" in vol and vol["persistentVolumeClaim"]["claimName"] not in pvcs:
                error(fname, f"{wname}: volume {vname} claims "
                             f"{vol['persistentVolumeClaim']['claimName']}, which is not defined")
            if "secret" in vol and vol["secret"]["secretName"] not in secrets:
                error(fname, f"{wname}: volume {vname} uses Secret {vol['secret']['secretName']}, "
                             "which is not defined")
            elif "secret" in vol:
                known = secrets[vol["secret"]["secretName"]]
                for item in vol["secret"].get("items") or []:
                    if item["key"] not in known:
                        error(fname, f"{wname}: volume {vname} projects key {item['key']!r}, which "
                                     f"Secret {vol['secret']['secretName']} does not define "
                                     f"({sorted(known)})")
            if "configMap" in vol and vol["configMap"]["name"] not in configmaps:
                error(fname, f"{wname}: volume {vname} uses ConfigMap {vol['configMap']['name']}, "
                             "which is not defined")
        pod_security = pod_spec.get("securityContext", {}) or {}
        for container in pod_spec["containers"]:
            where = f"{fname}: {wname}/{container['name']}"
            command = container.get("command") or []
            binary_name = os.path.basename(command[0]) if command else None
            if binary_name not in binaries:
                error(where, f"command {command} does not start an AniFarm binary "
                             f"({', '.join(binaries)}); name it explicitly")
                continue
            saw[binary_name] = True
            binary = binaries[binary_name]
            env = container_env(container, configmaps, where, secrets)
            args = [expand(a, env, where) for a in command[1:] + (container.get("args") or [])]
            flags = binary.parse(args, where)
            binary.accepts(args, where)
            # Credential files: on a Secret's mount, naming its keys.
            for flag in CREDENTIAL_FLAGS[binary_name]:
                if flag not in flags:
                    continue
                if flag not in binary.help_flags:
                    continue  # already reported by parse()
                key = secret_file(str(flags[flag]), container, volumes, secrets, f"{where} --{flag}")
                if key is not None:
                    ok(f"ok: {fname}: {wname} --{flag} {flags[flag]} is Secret key {key!r}")
            mounts = {}
            for m in container.get("volumeMounts", []) or []:
                if m["name"] not in volumes and m["name"] not in claim_templates:
                    error(where, f"volumeMount {m['name']} has no volume")
                mounts[m["mountPath"]] = m["name"]
            security = container.get("securityContext", {}) or {}
            if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
                error(where, "must run as non-root (runAsNonRoot: true)")
            uid = security.get("runAsUser", pod_security.get("runAsUser"))
            if uid is not None and facts.get("image_uid") is not None and uid != facts["image_uid"]:
                error(where, f"runAsUser {uid} differs from the images' USER {facts['image_uid']}")

            def persistent(mount_name):
                vol = volumes.get(mount_name)
                return mount_name in claim_templates or (vol is not None and "persistentVolumeClaim" in vol)

            if binary_name == "anifarm-coordinator":
                if spec.get("replicas", 1) != 1:
                    error(where, f"replicas {spec.get('replicas')}: the coordinator owns a SQLite "
                                 "database and must run exactly once")
                grpc_host, grpc_port = split_host_port(flags.get("listen", facts["listen_default"]), where)
                if grpc_port != facts["grpc_port"]:
                    error(where, f"--listen port {grpc_port} differs from the binary's default "
                                 f"{facts['grpc_port']} (coordinator/main.cc)")
                if "http" not in flags:
                    error(where, "no --http: the probes and /metrics need the dashboard")
                    http_port = None
                else:
                    http_host, http_port = split_host_port(flags["http"], where)
                    if http_port != facts["http_port"]:
                        error(where, f"--http port {http_port} differs from the documented "
                                     f"{facts['http_port']} (anifarm-coordinator --help)")
                    if http_host in ("127.0.0.1", "localhost", "::1"):
                        error(where, f"--http {flags['http']} is loopback: the kubelet's probes "
                                     "and Prometheus cannot reach it")
                if grpc_host in ("127.0.0.1", "localhost", "::1"):
                    error(where, f"--listen {flags.get('listen')} is loopback: nodes cannot reach it")
                ports = named_ports(container)
                if ports.get("grpc") != grpc_port:
                    error(where, f"containerPort 'grpc' is {ports.get('grpc')}, --listen uses {grpc_port}")
                if http_port is not None and ports.get("http") != http_port:
                    error(where, f"containerPort 'http' is {ports.get('http')}, --http uses {http_port}")
                for problem in check_coordinator_transport(flags, facts, where):
                    error(where, problem)
                facts["k8s_coordinator_flags"] = flags
                health_port = None
                if "health" in flags:
                    health_host, health_port = split_host_port(flags["health"], where)
                    if is_loopback(health_host):
                        error(where, f"--health {flags['health']} is loopback: the kubelet's probes "
                                     "cannot reach it")
                    if health_port in (grpc_port, http_port):
                        error(where, f"--health port {health_port} is also --listen's or --http's")
                    if health_port not in ports.values():
                        error(where, f"--health port {health_port} is not a containerPort "
                                     f"({sorted(ports.values())})")
                # The port a gRPC probe must use: the plaintext health port,
                # or --listen itself if that is plaintext.
                if health_port is not None:
                    probe_port, probe_what = health_port, "the --health port"
                elif "tls-cert" in flags:
                    probe_port, probe_what = None, None
                else:
                    probe_port, probe_what = grpc_port, "the gRPC server"
                for probe_kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                    probe = container.get(probe_kind)
                    pwhere = f"{where} {probe_kind}"
                    if not probe:
                        if probe_kind != "startupProbe":
                            error(where, f"no {probe_kind}")
                        continue
                    if "grpc" in probe:
                        if not str(probe["grpc"]["port"]).isdigit():
                            error(pwhere, f"gRPC probe port {probe['grpc']['port']!r}: Kubernetes "
                                          "takes only a number here, not a port name")
                        port = resolve_port(probe["grpc"]["port"], container, pwhere)
                        if probe_port is None:
                            error(pwhere, "gRPC probe, but --listen uses TLS, which the kubelet "
                                          "cannot speak: add --health HOST:PORT and probe that")
                        elif port != probe_port:
                            error(pwhere, f"gRPC probe on port {port}, {probe_what} is on {probe_port}")
                        else:
                            ok(f"ok: {fname}: {probe_kind} grpc on {probe_what} {port}")
                        if not facts["serves_grpc_health"]:
                            error(pwhere, "gRPC probe, but the coordinator does not register the "
                                          "grpc.health.v1 health service (coordinator/)")
                    elif "httpGet" in probe:
                        port = resolve_port(probe["httpGet"]["port"], container, pwhere)
                        if port != http_port:
                            error(pwhere, f"HTTP probe on port {port}, the dashboard is on {http_port}")
                        path = probe["httpGet"].get("path", "/")
                        if path not in facts["dashboard_paths"]:
                            error(pwhere, f"path {path} is not served by the dashboard "
                                          f"({sorted(facts['dashboard_paths'])})")
                        if "tokens" in flags and path != "/":
                            error(pwhere, f"HTTP probe of {path}: the dashboard's API needs a token "
                                          "(--tokens), which the kubelet does not send; use a gRPC "
                                          "probe on --health")
                        if "tls-cert" in flags and probe["httpGet"].get("scheme", "HTTP") != "HTTPS":
                            error(pwhere, "the dashboard serves HTTPS (--tls-cert): scheme: HTTPS")
                    elif "tcpSocket" in probe:
                        resolve_port(probe["tcpSocket"]["port"], container, pwhere)
                    else:
                        error(pwhere, "unsupported probe type")
                annotations = pod["metadata"].get("annotations", {}) or {}
                if "tls-cert" in flags and annotations.get("prometheus.io/scrape") == "true" and \
                        annotations.get("prometheus.io/scheme") != "https":
                    error(where, "the dashboard serves HTTPS (--tls-cert): annotate "
                                 "prometheus.io/scheme: https")
                if "prometheus.io/port" in annotations and int(annotations["prometheus.io/port"]) != http_port:
                    error(where, f"prometheus.io/port {annotations['prometheus.io/port']} is not the "
                                 f"dashboard port {http_port}")
                if annotations.get("prometheus.io/path", "/metrics") not in facts["dashboard_paths"]:
                    error(where, f"prometheus.io/path {annotations['prometheus.io/path']} is not served")
                state_dir = flags.get("state-dir")
                if state_dir not in mounts:
                    error(where, f"--state-dir {state_dir} is not a volumeMount path ({sorted(mounts)})")
                elif not persistent(mounts[state_dir]):
                    error(where, f"--state-dir {state_dir} is mounted from {mounts[state_dir]}, "
                                 "which is not a PersistentVolumeClaim")
                models_dir = flags.get("models-dir", env.get("ANIFARM_MODELS_DIR"))
                if models_dir and not any(under(models_dir, m) and persistent(n) for m, n in mounts.items()):
                    error(where, f"--models-dir {models_dir} is not on a persistent volume")
                if env.get("ANIFARM_MODELS_DIR") and models_dir != env["ANIFARM_MODELS_DIR"]:
                    error(where, f"--models-dir {models_dir} differs from ANIFARM_MODELS_DIR "
                                 f"{env['ANIFARM_MODELS_DIR']}")
                for key in ("chunk-frames", "lease-timeout"):
                    if key in flags and not (str(flags[key]).isdigit() and int(flags[key]) >= 1):
                        error(where, f"--{key} {flags[key]!r} is not a whole number >= 1")
                # Services that select this pod.
                for sname, svc in services:
                    sel = svc["spec"].get("selector", {}) or {}
                    if not sel or any(labels.get(k) != v for k, v in sel.items()):
                        continue
                    swhere = f"{sname}: Service {svc['metadata']['name']}"
                    coordinator_service_names.add(svc["metadata"]["name"])
                    for sp in svc["spec"].get("ports", []):
                        target = resolve_port(sp.get("targetPort", sp["port"]), container, swhere)
                        if target is not None and sp["port"] != target:
                            error(swhere, f"port {sp['port']} forwards to {target}: use the same "
                                          "number so that addresses look alike everywhere")
                        if sp.get("name") in ("grpc", "http") and target != {"grpc": grpc_port,
                                                                             "http": http_port}[sp["name"]]:
                            error(swhere, f"port named {sp['name']} reaches {target}")
                        if svc["spec"].get("clusterIP") != "None":
                            coordinator_service_ports[svc["metadata"]["name"]] = coordinator_service_ports.get(
                                svc["metadata"]["name"], set()) | {sp["port"]}
                if not coordinator_service_ports:
                    error(where, "no (non-headless) Service selects the coordinator")
                if work["kind"] == "StatefulSet" and spec.get("serviceName") not in coordinator_service_names:
                    error(where, f"serviceName {spec.get('serviceName')} is not a Service of this pod")
                ok(f"ok: {fname}: coordinator gRPC {grpc_port}, dashboard {http_port}, "
                   f"state {state_dir} on a PVC")

            if binary_name == "anifarm-node":
                limits = (container.get("resources", {}) or {}).get("limits", {}) or {}
                if str(limits.get("nvidia.com/gpu")) != "1":
                    error(where, f"limits nvidia.com/gpu is {limits.get('nvidia.com/gpu')}, want 1")
                device = flags.get("device", "cpu")
                if not str(device).startswith("cuda"):
                    error(where, f"--device {device}: a GPU pod should run cuda")
                if str(device) not in ("cuda", "cuda:0"):
                    error(where, f"--device {device}: the pod's one GPU is cuda:0 in the container")
                cache_dir = flags.get("cache-dir")
                if cache_dir not in mounts:
                    error(where, f"--cache-dir {cache_dir} is not a volumeMount path ({sorted(mounts)})")
                if "CUDA_CACHE_PATH" in env and not any(under(env["CUDA_CACHE_PATH"], m) for m in mounts):
                    error(where, f"CUDA_CACHE_PATH {env['CUDA_CACHE_PATH']} is not on a writable volume")
                facts.setdefault("k8s_node_targets", []).append(
                    (where, flags.get("coordinator", env.get("ANIFARM_COORDINATOR", facts["node_default"]))))
                facts.setdefault("k8s_node_credentials", []).append((where, flags, env))
                ok(f"ok: {fname}: node --device {device}, cache {cache_dir}")

    for where, target in facts.get("k8s_node_targets", []):
        host, port = split_host_port(target, where)
        short = (host or "").split(".")[0]
        if short not in coordinator_service_ports:
            error(where, f"--coordinator {target}: {host} is not a coordinator Service "
                         f"({sorted(coordinator_service_ports)})")
        elif port not in coordinator_service_ports[short]:
            error(where, f"--coordinator {target}: Service {short} has ports "
                         f"{sorted(coordinator_service_ports[short])}")
    for where, flags, env in facts.get("k8s_node_credentials", []):
        check_node_credentials(flags, env, facts.get("k8s_coordinator_flags"), where)
    for binary_name, seen in saw.items():
        if not seen:
            error(k8s_dir, f"no workload runs {binary_name}")


# --------------------------------------------------------------------------
# systemd.


def parse_unit(text):
    sections = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(sections, section, key):
    return [v for k, v in sections.get(section, []) if k == key]


def documented_exit_codes(binary):
    """The non-zero codes of the "Exit status: 0 ..., 2 ..., 3 ..." line of
    a binary's --help."""
    line = re.search(r"Exit status:(.*?)(?:\n\S|\Z)", binary.help, re.S)
    return {int(c) for c in re.findall(r"\b(\d+) ", line.group(1)) if int(c) != 0} if line else set()


# Options that restrict devices, which would hide /dev/nvidia* from a node
# (ProtectClock= adds a DeviceAllow= for the RTC, and any DeviceAllow=
# closes the rest).
DEVICE_RESTRICTING = {"PrivateDevices": "yes", "DeviceAllow": None, "ProtectClock": "yes",
                      "DevicePolicy": None}
# Hardening every unit has (values as written).
HARDENING = {"NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectSystem": "strict",
             "ProtectHome": "yes", "ProtectKernelModules": "yes", "CapabilityBoundingSet": ""}


def check_unit_restart_and_hardening(unit, sections, binary):
    # Every exit status a binary documents is a verdict (bad flag, bad
    # device, refused credentials, unusable state) that a restart cannot
    # change: a unit that restarts on one loops, 20 times in 10 minutes.
    codes = documented_exit_codes(binary)
    if not codes:
        error(unit, f"{binary.name} --help documents no 'Exit status:' line")
    prevented = {int(c) for v in unit_values(sections, "Service", "RestartPreventExitStatus")
                 for c in v.split() if c.isdigit()}
    if codes - prevented:
        error(unit, f"RestartPreventExitStatus= {sorted(prevented)} lacks {sorted(codes - prevented)}, "
                    f"documented exit statuses of {binary.name} that restarting cannot fix")
    for key, want in HARDENING.items():
        values = unit_values(sections, "Service", key)
        if not values or values[-1] != want:
            error(unit, f"{key}={values[-1] if values else '(unset)'}, want {key}={want}")
    if "ReadWritePaths" not in dict(sections.get("Service", [])) and binary.name == "anifarm-coordinator":
        error(unit, "ProtectSystem=strict without ReadWritePaths= for the media folder")
    if binary.name == "anifarm-node":
        for key, bad in DEVICE_RESTRICTING.items():
            for value in unit_values(sections, "Service", key):
                if bad is None or value == bad:
                    error(unit, f"{key}={value} would hide /dev/nvidia* from the node")
    ok(f"ok: {unit}: no restart on exit {sorted(codes)}, hardened")


def check_systemd(source_dir, binaries, facts):
    unit_dir = os.path.join(source_dir, "deploy", "systemd")
    units = {"anifarm-coordinator.service": "anifarm-coordinator",
             "anifarm-node@.service": "anifarm-node"}
    coordinator_port = None
    node_target = None
    unit_args = {}
    unit_env = {}
    for unit, binary_name in units.items():
        path = os.path.join(unit_dir, unit)
        if not os.path.exists(path):
            error(unit_dir, f"missing {unit}")
            continue
        sections = parse_unit(read(path))
        exec_start = unit_values(sections, "Service", "ExecStart")
        if len(exec_start) != 1:
            error(unit, f"want one ExecStart=, found {len(exec_start)}")
            continue
        instance = "0"
        words = [w.replace("%i", instance).replace("%I", instance) for w in shlex.split(exec_start[0])]
        if os.path.basename(words[0]) != binary_name:
            error(unit, f"ExecStart runs {words[0]}, expected {binary_name}")
            continue
        binary = binaries[binary_name]
        # "$VAR" words are the /etc/default hook (empty unless set there).
        args = [w for w in words[1:] if not re.fullmatch(r"\$\{?[A-Z_][A-Z0-9_]*\}?", w)]
        flags = binary.parse(args, unit)
        binary.accepts(args, unit)
        unit_args[binary_name] = args
        env = {}
        for value in unit_values(sections, "Service", "Environment"):
            for item in shlex.split(value):
                k, _, v = item.partition("=")
                env[k] = v.replace("%i", instance)
        unit_env[binary_name] = env
        state_dirs = [d for v in unit_values(sections, "Service", "StateDirectory") for d in v.split()]
        cache_dirs = [d.replace("%i", instance) for v in unit_values(sections, "Service", "CacheDirectory")
                      for d in v.split()]
        if not unit_values(sections, "Service", "User"):
            error(unit, "no User=: run as the dedicated user anifarm")
        check_unit_restart_and_hardening(unit, sections, binary)
        if binary_name == "anifarm-coordinator":
            _, coordinator_port = split_host_port(flags.get("listen", facts["listen_default"]), unit)
            if coordinator_port != facts["grpc_port"]:
                error(unit, f"--listen port {coordinator_port} differs from the default {facts['grpc_port']}")
            if "http" in flags:
                _, http_port = split_host_port(flags["http"], unit)
                if http_port != facts["http_port"]:
                    error(unit, f"--http port {http_port} differs from the documented {facts['http_port']}")
            state_dir = flags.get("state-dir")
            if not state_dirs or state_dir != "/var/lib/" + state_dirs[0]:
                error(unit, f"--state-dir {state_dir} is not StateDirectory= {state_dirs} "
                            "under /var/lib")
            models_dir = flags.get("models-dir", env.get("ANIFARM_MODELS_DIR"))
            if models_dir and not any(under(models_dir, "/var/lib/" + d) for d in state_dirs):
                error(unit, f"--models-dir {models_dir} is outside StateDirectory= {state_dirs}")
            ok(f"ok: {unit}: --listen port {coordinator_port}, state {state_dir}")
        else:
            cache_dir = flags.get("cache-dir")
            if not cache_dirs or cache_dir != "/var/cache/" + cache_dirs[0]:
                error(unit, f"--cache-dir {cache_dir} is not CacheDirectory= {cache_dirs} under "
                            "/var/cache (instance 0)")
            if flags.get("device") != "cuda:" + instance:
                error(unit, f"--device {flags.get('device')}: the instance is the GPU index, "
                            "want --device cuda:%i")
            node_target = flags.get("coordinator", env.get("ANIFARM_COORDINATOR", facts["node_default"]))
            ok(f"ok: {unit}: --device cuda:%i, cache {cache_dir}")
    if node_target and coordinator_port:
        _, port = split_host_port(node_target, "anifarm-node@.service")
        if port != coordinator_port:
            error("anifarm-node@.service", f"coordinator {node_target}: the coordinator unit "
                                           f"listens on {coordinator_port}")
    # Access control: the unit's command line plus an example of its
    # /etc/default file must give a coordinator that starts (TLS and tokens
    # off loopback), and nodes that can talk to it. Every example is a
    # command line the binary accepts.
    secured_coordinator = None
    if "anifarm-coordinator" in unit_args:
        binary = binaries["anifarm-coordinator"]
        args = unit_args["anifarm-coordinator"]
        where = "anifarm-coordinator.service"
        problems = check_coordinator_transport(binary.parse(args, where), facts, where)
        if not problems:
            secured_coordinator = binary.parse(args, where)
        path = os.path.join(unit_dir, "anifarm-coordinator.default")
        examples = default_file_examples(path, "ANIFARM_COORDINATOR_ARGS")
        for number, words in examples:
            ewhere = f"anifarm-coordinator.default:{number}"
            combined = args + words
            flags = binary.parse(combined, ewhere)
            binary.accepts(combined, ewhere)
            if not check_coordinator_transport(flags, facts, ewhere) and "tls-cert" in flags \
                    and "tokens" in flags and secured_coordinator is None:
                secured_coordinator = flags
                ok(f"ok: {ewhere}: the unit with this example has TLS and tokens")
            for flag in CREDENTIAL_FLAGS["anifarm-coordinator"]:
                if flag in flags and not str(flags[flag]).startswith("/etc/anifarm/"):
                    error(ewhere, f"--{flag} {flags[flag]}: keep credentials under /etc/anifarm/")
        if problems and secured_coordinator is None:
            error(where, f"{problems[0]}; and no ANIFARM_COORDINATOR_ARGS example in "
                         "anifarm-coordinator.default gives --tls-cert/--tls-key and --tokens")
    if "anifarm-node" in unit_args and secured_coordinator is not None:
        binary = binaries["anifarm-node"]
        args = unit_args["anifarm-node"]
        path = os.path.join(unit_dir, "anifarm-node.default")
        good = []
        for number, words in default_file_examples(path, "ANIFARM_NODE_ARGS"):
            ewhere = f"anifarm-node.default:{number}"
            combined = args + words
            flags = binary.parse(combined, ewhere)
            binary.accepts(combined, ewhere)
            if not node_credential_problems(flags, unit_env.get("anifarm-node", {}), secured_coordinator):
                good.append(number)
            for flag in CREDENTIAL_FLAGS["anifarm-node"]:
                if flag in flags and not str(flags[flag]).startswith("/etc/anifarm/"):
                    error(ewhere, f"--{flag} {flags[flag]}: keep credentials under /etc/anifarm/")
        if not good:
            error("anifarm-node.default", "no ANIFARM_NODE_ARGS example lets a node talk to the "
                                          "coordinator with TLS and tokens (--tls-ca and "
                                          "--token-file or --tls-cert/--tls-key)")
        else:
            ok(f"ok: anifarm-node.default: examples on lines {good} reach a coordinator with TLS and tokens")
    # Flags mentioned in the /etc/default examples must exist too.
    for path in sorted(glob.glob(os.path.join(unit_dir, "*.default"))):
        binary_name = "anifarm-node" if "node" in os.path.basename(path) else "anifarm-coordinator"
        for flag in re.findall(r"--([a-z][a-z0-9-]*)", read(path)):
            if flag not in binaries[binary_name].help_flags:
                error(os.path.basename(path), f"mentions --{flag}, which {binary_name} does not have")


# --------------------------------------------------------------------------
# Dockerfiles.


def dockerfile_final_stage(text):
    text = re.sub(r"\\\n", " ", text)
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    stages = []
    for line in lines:
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((word.upper(), rest.strip()))
    return stages[-1] if stages else []


def exec_form(value):
    import json
    try:
        parsed = json.loads(value)
        if isinstance(parsed, list):
            return parsed
    except ValueError:
        pass
    return shlex.split(value)


def check_docker(source_dir, binaries, facts):
    docker_dir = os.path.join(source_dir, "deploy", "docker")
    images = {"Dockerfile.coordinator": "anifarm-coordinator", "Dockerfile.node": "anifarm-node"}
    uids = set()
    for name, binary_name in images.items():
        path = os.path.join(docker_dir, name)
        if not os.path.exists(path):
            error(docker_dir, f"missing {name}")
            continue
        stage = dockerfile_final_stage(read(path))
        get = lambda k: [v for w, v in stage if w == k]
        users = get("USER")
        if not users:
            error(name, "the runtime stage has no USER (must not run as root)")
        else:
            uid = users[-1].split(":")[0]
            if not uid.isdigit() or uid == "0":
                error(name, f"USER {users[-1]}: use a numeric non-root UID (Kubernetes runAsNonRoot "
                            "can only check numbers)")
            else:
                uids.add(int(uid))
        entry = exec_form(get("ENTRYPOINT")[-1]) if get("ENTRYPOINT") else []
        cmd = exec_form(get("CMD")[-1]) if get("CMD") else []
        if not entry or os.path.basename(entry[0]) != binary_name:
            error(name, f"ENTRYPOINT {entry} does not run {binary_name}")
            continue
        facts.setdefault("entrypoints", {})[binary_name] = entry[0]
        binary = binaries[binary_name]
        args = entry[1:] + cmd
        flags = binary.parse(args, name)
        binary.accepts(args, name)
        volumes = [v for value in get("VOLUME") for v in exec_form(value)]
        exposed = {int(p.split("/")[0]) for value in get("EXPOSE") for p in value.split()}
        env = {}
        for value in get("ENV"):
            for item in shlex.split(value):
                k, _, v = item.partition("=")
                env[k] = v
        if binary_name == "anifarm-coordinator":
            _, grpc_port = split_host_port(flags.get("listen", facts["listen_default"]), name)
            _, http_port = split_host_port(flags.get("http", ""), name) if "http" in flags else (None, None)
            want = {facts["grpc_port"], facts["http_port"]}
            health_port = None
            if "health" in flags:
                _, health_port = split_host_port(flags["health"], name)
                want.add(health_port)
            if grpc_port != facts["grpc_port"] or http_port != facts["http_port"]:
                error(name, f"CMD ports {grpc_port}/{http_port}, want {facts['grpc_port']}/{facts['http_port']}")
            if exposed != want:
                error(name, f"EXPOSE {sorted(exposed)}, want {sorted(want)} (gRPC, dashboard"
                            f"{', --health' if health_port else ''})")
            for problem in check_coordinator_transport(flags, facts, name):
                error(name, f"CMD: {problem}")
            for flag in CREDENTIAL_FLAGS[binary_name]:
                if flag in flags and not str(flags[flag]).startswith("/etc/anifarm/"):
                    error(name, f"--{flag} {flags[flag]}: credentials belong under /etc/anifarm/ "
                                "(mounted read-only, as the Kubernetes Secret is)")
            facts["docker_coordinator_flags"] = flags
            # HEALTHCHECK: it must reach the coordinator the way the CMD serves it.
            for check in get("HEALTHCHECK"):
                target = re.search(r"--coordinator[= ]\s*(\S+)", check)
                if not target:
                    continue
                _, port = split_host_port(target.group(1), name)
                if port == health_port:
                    continue
                if port != grpc_port:
                    error(name, f"HEALTHCHECK talks to port {port}, which is neither --listen "
                                f"({grpc_port}) nor --health ({health_port})")
                elif "tls-cert" in flags and "--tls-ca" not in check:
                    error(name, "HEALTHCHECK talks plaintext to a TLS --listen; use the --health port")
            if flags.get("state-dir") not in volumes:
                error(name, f"--state-dir {flags.get('state-dir')} is not a VOLUME ({volumes})")
            ok(f"ok: {name}: EXPOSE {sorted(exposed)}, VOLUME {volumes}")
        else:
            if flags.get("cache-dir") not in volumes:
                error(name, f"--cache-dir {flags.get('cache-dir')} is not a VOLUME ({volumes})")
            target = env.get("ANIFARM_COORDINATOR")
            if target:
                _, port = split_host_port(target, name)
                if port != facts["grpc_port"]:
                    error(name, f"ANIFARM_COORDINATOR {target}: the coordinator's port is {facts['grpc_port']}")
            for flag in CREDENTIAL_FLAGS[binary_name]:
                if flag in flags and not str(flags[flag]).startswith("/etc/anifarm/"):
                    error(name, f"--{flag} {flags[flag]}: credentials belong under /etc/anifarm/")
            check_node_credentials(flags, env, facts.get("docker_coordinator_flags"), name)
            ok(f"ok: {name}: VOLUME {volumes}, device {flags.get('device')}")
    if len(uids) > 1:
        error(docker_dir, f"the images run as different UIDs {sorted(uids)}")
    facts["image_uid"] = uids.pop() if len(uids) == 1 else None


# --------------------------------------------------------------------------


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    bin_dir = sys.argv[1]
    source_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..")
    source_dir = os.path.abspath(source_dir)
    binaries = {
        "anifarm-coordinator": Binary("anifarm-coordinator",
                                      os.path.join(source_dir, "coordinator", "main.cc"), bin_dir),
        "anifarm-node": Binary("anifarm-node", os.path.join(source_dir, "node", "main.cc"), bin_dir),
    }
    if not binaries["anifarm-coordinator"].built:
        print(f"FAIL: {bin_dir}/anifarm-coordinator is not built", file=sys.stderr)
        return 1

    coordinator_src = binaries["anifarm-coordinator"].source
    facts = {}
    m = re.search(r'args\.Get\("listen",\s*"([^"]+)"\)', coordinator_src)
    if not m:
        print("FAIL: cannot find the --listen default in coordinator/main.cc", file=sys.stderr)
        return 1
    facts["listen_default"] = m.group(1)
    facts["grpc_port"] = int(m.group(1).rsplit(":", 1)[1])
    m = re.search(r"--http (?:[\w.\[\]:]+):(\d+)", binaries["anifarm-coordinator"].help)
    if not m:
        print("FAIL: anifarm-coordinator --help documents no --http HOST:PORT example", file=sys.stderr)
        return 1
    facts["http_port"] = int(m.group(1))
    m = re.search(r'"coordinator",[^;]*"([^"]+:\d+)"', binaries["anifarm-node"].source)
    facts["node_default"] = m.group(1) if m else facts["listen_default"]
    if int(facts["node_default"].rsplit(":", 1)[1]) != facts["grpc_port"]:
        error("node/main.cc", f"the node's default coordinator {facts['node_default']} does not use "
                              f"the coordinator's default port {facts['grpc_port']}")
    dashboard = read(os.path.join(source_dir, "coordinator", "dashboard.cc"))
    facts["dashboard_paths"] = set(re.findall(r'server\.Get\("(/[^"]*)"', dashboard))
    sources = "".join(read(p) for p in glob.glob(os.path.join(source_dir, "coordinator", "*.cc")))
    facts["serves_grpc_health"] = bool(re.search(
        r"grpc\.health\.v1|EnableDefaultHealthCheckService|HealthCheckServiceInterface", sources))
    # coordinator/main.cc refuses a non-loopback address without TLS and
    # tokens unless --insecure (issue 8).
    facts["enforces_transport_policy"] = ("IsLoopbackAddress" in coordinator_src and
                                          "insecure" in binaries["anifarm-coordinator"].switches)
    for binary_name, credential_flags in CREDENTIAL_FLAGS.items():
        if facts["enforces_transport_policy"] or binary_name == "anifarm-node":
            missing = [f for f in credential_flags if f not in binaries[binary_name].help_flags]
            if missing and binaries[binary_name].help_flags & set(credential_flags):
                error(binary_name, f"--help lacks credential flags {missing}")
    print(f"binaries: gRPC default {facts['listen_default']}, dashboard port {facts['http_port']} "
          f"(--help), node default {facts['node_default']}, grpc.health.v1 served: "
          f"{facts['serves_grpc_health']}")

    check_docker(source_dir, binaries, facts)
    check_systemd(source_dir, binaries, facts)
    check_k8s(source_dir, binaries, facts)

    for note in NOTES:
        print(note)
    if ERRORS:
        for e in ERRORS:
            print(f"FAIL: {e}", file=sys.stderr)
        print(f"{len(ERRORS)} mismatch(es) between deploy/ and the binaries", file=sys.stderr)
        return 1
    print("PASS: deploy/ agrees with the binaries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
