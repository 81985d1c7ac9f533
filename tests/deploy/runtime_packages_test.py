#!/usr/bin/env python3
"""scripts/runtime-packages.txt against the built binaries.

Every shared library that `ldd` lists for build/bin/anifarm-coordinator and
anifarm (and anifarm-node with libanifarm_engine.so, when built) must
belong (`dpkg -S`) to a package of the list or to one of their
dependencies (`Depends`/`Pre-Depends`, followed recursively through the
installed packages, alternatives and virtual packages included). A library
whose package is missing from the list fails here, instead of an image
built from the list (deploy/docker/Dockerfile.coordinator) failing at its
first start. The binaries and the engine are checked against the part of
the list before [node]; anifarm-node and the engine against all of it.

usage: runtime_packages_test.py BIN_DIR SOURCE_DIR [LIST] [--without PACKAGE]
Exit 0 pass, 1 fail, 77 skip (no dpkg: not a Debian system).
"""
import os
import re
import shutil
import subprocess
import sys

FAILURES = []


def read_list(path):
    """(packages before [node], packages of [node])."""
    common, node, current = [], [], None
    current = common
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line == "[node]":
                current = node
                continue
            if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", line):
                FAILURES.append(f"{path}: '{line}' is not a package name")
                continue
            current.append(line)
    return common, node


def installed_packages():
    """name -> (dependency groups, provided names) of every installed package.
    A group is a list of alternatives ("a | b")."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${Status}\t${Depends}\t${Pre-Depends}\t${Provides}\n"],
        capture_output=True, text=True, check=True).stdout
    packages, providers = {}, {}

    def names(field):
        return [re.sub(r"[\s(:].*", "", alternative.strip())
                for alternative in field.split("|") if alternative.strip()]

    for line in out.splitlines():
        name, status, depends, pre_depends, provides = (line.split("\t") + [""] * 5)[:5]
        if not status.endswith(" installed"):
            continue
        groups = [names(group) for group in f"{depends},{pre_depends}".split(",") if group.strip()]
        packages[name] = groups
        for provided in names(provides.replace(",", "|")):
            providers.setdefault(provided, set()).add(name)
    return packages, providers


def closure(roots, packages, providers):
    """The roots and everything installed they depend on."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for group in packages.get(name, []):
            for alternative in group:
                # An installed alternative, or installed providers of a virtual name.
                todo.extend([alternative] if alternative in packages else
                            sorted(providers.get(alternative, ())))
    return seen


def file_owners():
    """"dir/file" (the last folder and the file name) -> package, from dpkg's
    file lists: one read instead of a `dpkg -S` per library. /lib and
    /usr/lib are one folder on a merged-/usr system, but dpkg knows each
    file under one of them, hence the key without the full path."""
    owners = {}
    info = "/var/lib/dpkg/info"
    for entry in os.listdir(info) if os.path.isdir(info) else []:
        if not entry.endswith(".list"):
            continue
        package = entry[:-len(".list")].split(":")[0]
        with open(os.path.join(info, entry), errors="replace") as f:
            for path in f:
                path = path.rstrip("\n")
                if ".so" in path:
                    key = f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}"
                    owners.setdefault(key, package)
    return owners


OWNERS = {}


def owner(library):
    """The package that ships `library` (a path from ldd), or None."""
    real = os.path.realpath(library)
    for path in (library, real):
        key = f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}"
        if key in OWNERS:
            return OWNERS[key]
    candidates = [library, real]
    # /lib and /usr/lib are one folder on a merged-/usr system, but dpkg
    # knows each file under one of them: match folder + file name.
    for path in (library, real):
        candidates.append(f"*/{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}")
    for candidate in candidates:
        run = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if run.returncode == 0:
            first = run.stdout.splitlines()[0]
            return first.split(": ", 1)[0].split(",")[0].strip().split(":")[0]
    return None


def libraries(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        if "not found" in line:
            FAILURES.append(f"{binary}: {line.strip()}")
            continue
        match = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if match:
            found.append(match.group(1))
    return found


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    args = sys.argv[1:]
    # --without PACKAGE: the list less one package, to prove that the test
    # notices (CTest runs it that way with WILL_FAIL).
    without = set()
    while "--without" in args:
        at = args.index("--without")
        without.add(args[at + 1])
        del args[at:at + 2]
    bin_dir, source_dir = args[0], args[1]
    list_path = args[2] if len(args) > 2 else os.path.join(source_dir, "scripts",
                                                            "runtime-packages.txt")
    if not shutil.which("dpkg-query") or not shutil.which("ldd"):
        print("SKIP: no dpkg-query or ldd (not a Debian system)")
        return 77
    common, node = read_list(list_path)
    for name in without:
        if name not in common + node:
            FAILURES.append(f"--without {name}: not in {list_path}")
    common = [name for name in common if name not in without]
    node = [name for name in node if name not in without]
    OWNERS.update(file_owners())
    packages, providers = installed_packages()
    for name in common + node:
        if name not in packages:
            # Its own dependencies are unknown here; only its name counts.
            print(f"note: {name} (in {list_path}) is not installed here")
    allowed_common = closure(common, packages, providers)
    allowed_node = closure(common + node, packages, providers)

    checked = 0
    for name, allowed in (("anifarm-coordinator", allowed_common), ("anifarm", allowed_common),
                          ("anifarm-node", allowed_node), ("libanifarm_engine.so", allowed_node)):
        binary = os.path.join(bin_dir, name)
        if not os.path.exists(binary):
            if name in ("anifarm-coordinator", "anifarm"):
                FAILURES.append(f"{binary} is missing (build it first)")
            else:
                print(f"note: {binary} is not built (-DANIFARM_BUILD_ENGINE=OFF); not checked")
            continue
        missing = {}
        for library in libraries(binary):
            package = owner(library)
            if package is None:
                # LibTorch from a pip wheel or /usr/local: not the
                # distribution's to install.
                print(f"note: {name}: {library} belongs to no package")
            elif package not in allowed:
                missing.setdefault(package, []).append(os.path.basename(library))
            checked += 1
        for package, libs in sorted(missing.items()):
            FAILURES.append(f"{name} needs {', '.join(sorted(libs))} from package {package}, "
                            f"which {list_path} neither lists nor pulls in"
                            f"{' before [node]' if allowed is allowed_common else ''}")
    for failure in FAILURES:
        print("FAIL:", failure)
    if not FAILURES:
        print(f"PASS: {checked} libraries, all from {os.path.basename(list_path)} and its dependencies")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
