"""The target's own world: a bubblewrap sandbox in which real PyTorch does not exist and the kit's state
cannot be written.

A user of a backend has no PyTorch installed. So the target process must not find it by any path: not
as a module, not through a symlink to its folder, not as ``libtorch_cpu.so`` for ctypes, not as the
``torch`` distribution's metadata (transformers reads ``importlib.metadata.version("torch")`` and takes
its PyTorch path when it answers). Nor may a target reach the kit's state: the oracle cache, the
expectations file, the report folder and the kit's code are read-only or absent.

The engine is bubblewrap (Debian's ``bubblewrap``): a new mount and pid namespace where only what the
target needs is mounted, read-only:
- the system (``/usr``, ``/etc``, ...), the Python installation, the kit, every ``sys.path`` folder, the
  backend's folders, the tiny models and recordings the runner made;
- a site-packages that holds PyTorch's files is replaced by a copy without them (hard links, made once
  and cached beside it: see ``torchless_site``), so the folder lists no ``torch`` at all;
- the oracle cache folder and the report folder are empty tmpfs; the only writable folder is the worker's own
  ``TMPDIR``.
The pid namespace ends with the runner (``--die-with-parent``): nothing a target starts outlives it. The
network namespace is its own, with no interface but loopback: nothing is fetched, nothing asked elsewhere.

Threat model and costs: docs/backends.md ("The target's sandbox").
"""
from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

ENGINE = "bubblewrap"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")


def tmp_root() -> str:
    """Where sandboxed workers' TMPDIRs live: a folder of the sandbox's own root (no host folder is bound
    there), so a worker's tmpfs needs no mount point on disk."""
    return "/conformance-tmp"


class SandboxError(Exception):
    """The sandbox cannot be made here; the message says why and what to install."""


@dataclass
class Sandbox:
    """How target processes are started: the bubblewrap arguments shared by every target worker."""
    hides_torch: bool
    read_only: list[str] = field(default_factory=list)     # folders the target sees, read-only
    empty: list[str] = field(default_factory=list)         # folders it sees empty (the oracle cache)
    replaced: dict[str, str] = field(default_factory=dict)  # site-packages -> its copy without torch
    version: str = ""
    links: dict[str, str] = field(default_factory=dict)    # /lib -> usr/lib on merged-/usr systems
    exposed: list[str] = field(default_factory=list)       # kit state left readable, since it holds what the target reads
    compiled: dict[str, str] = field(default_factory=dict)  # the backend's package -> its copy with bytecode

    def wrap(self, argv: list[str], writable: str) -> list[str]:
        """``argv`` run in the sandbox, with ``writable`` (the worker's TMPDIR, a tmpfs) its one writable folder."""
        # no network either: a target could fetch a torch (or ask a server what torch would answer)
        args = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--die-with-parent",
                "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for link, to in self.links.items():
            args += ["--symlink", to, link]
        for d in self.read_only:
            args += ["--ro-bind", d, d]
        for site, copy in self.replaced.items():
            args += ["--ro-bind", copy, site]
        for pkg, copy in self.compiled.items():      # after the site-packages: a package may be inside one
            args += ["--ro-bind", copy, pkg]
        for d in self.empty:
            args += ["--tmpfs", d]
        # its TMPDIR: a tmpfs of its own (nothing left on disk, whatever ends the run); the runner's
        # folder as its working directory, as without a sandbox (bound read-only by plan())
        args += ["--tmpfs", writable, "--chdir", os.getcwd()]
        return args + ["--", *argv]

    def describe(self) -> dict:
        return {"engine": f"{ENGINE} {self.version}".strip(), "hides_torch": self.hides_torch,
                "torchless_site_packages": sorted(self.replaced), "empty": sorted(self.empty),
                "writable": "the worker's TMPDIR only", **({"readable_report_dir": self.exposed} if self.exposed else {}),
                **({"bytecode_compiled_for": sorted(self.compiled)} if self.compiled else {})}


def engine_version() -> str | None:
    """bubblewrap's version when it is installed and can make namespaces here, else None."""
    exe = shutil.which("bwrap")
    if not exe:
        return None
    try:
        ok = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-pid", "--", "true"],
                            capture_output=True, timeout=30).returncode == 0
        ver = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (ver[-1] if ver else "?") if ok else None


def torch_files() -> dict[Path, set[str]]:
    """Each folder that holds files of the installed ``torch`` distribution -> the names in it that are
    torch's (its packages, its dist-info, its scripts). Read from its RECORD, never by importing it. Found by
    the name of its metadata folder, as ``importlib.metadata.version("torch")`` in the target finds it (reading
    every distribution's METADATA to find it took 45 ms of each run's and each ``exec``'s start)."""
    out: dict[Path, set[str]] = {}
    for dist in importlib.metadata.distributions(name="torch", path=_site_dirs()):
        if (dist.metadata["Name"] or "").lower() != "torch":
            continue
        base = Path(dist.locate_file("")).resolve()
        for top in _record_tops(dist):
            if top == "..":                 # console scripts elsewhere: launchers that fail without torch
                continue
            out.setdefault(base, set()).add(top)     # its packages and its own dist-info
    return out


def _record_tops(dist) -> set[str]:
    """The first path component of each file in ``dist``'s RECORD: read as CSV directly (torch's lists
    some 15,000 files; ``dist.files`` makes a path object of each, a tenth of a second a run)."""
    text = dist.read_text("RECORD")
    if text is None:
        return {f.parts[0] for f in dist.files or ()}
    return {row[0].replace("\\", "/").split("/", 1)[0] for row in csv.reader(text.splitlines()) if row and row[0]}


def _site_dirs() -> list[str]:
    """Where a torch may be installed that the sandbox shows: this sys.path, and the base interpreter's own
    site-packages, which a venv does not search but whose Python installation is bound into the sandbox
    (a cheat found its libtorch_cpu.so there)."""
    dirs = {p for p in sys.path if p}
    for base in {sys.base_prefix, sys.base_exec_prefix, sys.prefix}:
        paths = sysconfig.get_paths(vars={"base": base, "platbase": base, "installed_base": base,
                                          "installed_platbase": base})
        dirs |= {paths["purelib"], paths["platlib"]}
    return sorted(d for d in dirs if os.path.isdir(d))


def torchless_site(site: Path, hidden: set[str], cache: Path) -> Path:
    """A copy of ``site`` without the entries ``hidden``: folders made anew, files hard-linked (copied
    when links cannot be made), symlinks kept. Made once per listing of ``site`` and reused."""
    listing = sorted(n for n in os.listdir(site) if n not in hidden)
    stamp = hashlib.sha256("\0".join(
        f"{n}:{os.stat(site / n, follow_symlinks=False).st_mtime_ns}" for n in listing).encode()).hexdigest()[:16]
    out = cache / f"{hashlib.sha256(str(site).encode()).hexdigest()[:12]}-{stamp}"
    if (out / ".complete").is_file():
        return out
    tmp = Path(str(out) + f".{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in listing:
        src = site / name
        if src.is_symlink() or not src.is_dir():
            _link(src, tmp / name)
        else:
            shutil.copytree(src, tmp / name, symlinks=True, copy_function=_link)
    (tmp / ".complete").write_text(str(site))
    try:
        os.rename(tmp, out)
    except OSError:            # another run made it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _link(src, dst) -> None:
    src, dst = Path(src), Path(dst)
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _python_dirs() -> list[str]:
    """The interpreter's own folders: prefixes, the stdlib, and where the executable really lives."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            os.path.dirname(os.path.realpath(sys.executable)), os.path.dirname(sys.executable)}
    dirs.update(v for k, v in sysconfig.get_paths().items() if v)
    return sorted(d for d in dirs if d and os.path.isdir(d))


def plan(*, hides_torch: bool, extra_read: list[str], empty: list[str], cache: Path) -> Sandbox:
    """The sandbox for one run's target workers; SandboxError when bubblewrap cannot be used here."""
    version = engine_version()
    if version is None:
        raise SandboxError("bubblewrap is not installed or cannot make namespaces here "
                           "(apt-get install bubblewrap)")
    # bubblewrap refuses a source that does not exist: a folder made later is bound as made by the caller
    read = set(_python_dirs()) | {p for p in [*sys.path, *extra_read] if p and os.path.isdir(p)}
    links = {d: os.readlink(d) for d in SYSTEM_DIRS if os.path.islink(d)}
    read |= {d for d in SYSTEM_DIRS if os.path.isdir(d) and d not in links}
    read.add(str(Path(__file__).resolve().parent.parent))        # the kit (read-only)
    read = {os.path.realpath(p) for p in read} - {"/"}     # never the whole host: "/" as cwd stays out
    replaced: dict[str, str] = {}
    if hides_torch:
        for folder, names in torch_files().items():
            if any(str(folder) == r or str(folder).startswith(r.rstrip("/") + "/") for r in read):
                replaced[str(folder)] = str(torchless_site(folder, names, cache))
    # A folder inside another is bound after it, so the inner binding wins.
    ordered = sorted(_outermost(read), key=lambda p: (p.count("/"), p))
    return Sandbox(hides_torch, ordered, sorted(e for e in empty if e), replaced, version, links)


def for_backend(backend, oracle_cache: Path, extra_read: list[str] = (), report_dir: str | None = None) -> Sandbox:
    """The sandbox of one backend's processes (the workers, ``exec``): real torch hidden unless it is built
    on it, the runner's folder and the backend's sources readable, the oracle cache hidden. The oracle
    cache is made first: a folder that does not exist cannot be hidden under a read-only parent.

    The report folder is hidden too: a previous run's results.json there holds the oracle's observation of
    every case (a target that read it, under the runner's folder, answered every case with it), unless it
    holds a folder the target must read (``--report-dir .`` in the kit's checkout); ``exposed`` says so."""
    Path(oracle_cache).mkdir(parents=True, exist_ok=True)
    sb = plan(hides_torch=not backend.uses_real_torch, cache=Path(oracle_cache).parent / "target-site",
              extra_read=[os.getcwd(), *backend.sys_path, *extra_read], empty=[str(oracle_cache)])
    _compile_backend(sb, backend, Path(oracle_cache).parent / "target-bytecode")
    if report_dir and os.path.isdir(report_dir):
        folder = os.path.realpath(report_dir)
        if any(r == folder or r.startswith(folder.rstrip("/") + "/") for r in sb.read_only):
            sb.exposed.append(folder)
        else:
            sb.empty = sorted({*sb.empty, folder})
    return sb


def _compile_backend(sb: Sandbox, backend, cache: Path) -> None:
    """The backend's package with its bytecode (conformance/bytecode.py), where its own folder has none fresh:
    read-only sources would otherwise be compiled again in every target process."""
    from .backends.identity import package_location
    from .bytecode import compiled_copy

    where = package_location(backend.package, backend.sys_path) if backend.package else None
    if where is None or not where.is_dir():
        return
    try:
        copy = compiled_copy(where, cache)
    except OSError:            # a full or read-only cache: the target compiles as before, only slower
        return
    if copy is not None:
        sb.compiled[os.path.realpath(where)] = str(copy)


def _outermost(paths: set[str]) -> list[str]:
    """Folders not inside another one of the set (binding those would be redundant mounts)."""
    keep = []
    for p in sorted(paths, key=len):
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in keep):
            keep.append(p)
    return keep
