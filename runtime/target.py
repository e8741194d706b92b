"""What machine code is generated for: the Target description and its presets.

Owns: detecting the host (from LLVM's CPU name *and* its feature string, never
the name alone), the named presets, the current-target context
(`MOJOLITE_TARGET`, `use_target`), and whether the host can run a target's
code; and `parse_target`, the targets users spell for ahead-of-time builds (LLVM
triples with a CPU and features, checked against the names LLVM knows).  Does not
own code generation or the JIT; those take a Target.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass, field
from functools import lru_cache

from .config import settings

_X86_V1 = ("cmov", "cx8", "fxsr", "mmx", "sse", "sse2")
_X86_V2 = _X86_V1 + ("cx16", "popcnt", "sahf", "sse3", "sse4.1", "sse4.2", "ssse3")
_X86_V3 = _X86_V2 + ("avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave")
_X86_V4 = _X86_V3 + ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")

_A64 = ("neon", "fp-armv8")
X86_TRIPLE = "x86_64-unknown-linux-gnu"
AARCH64_TRIPLE = "aarch64-unknown-linux-gnu"

#: preset name -> (triple, LLVM CPU name, features it guarantees)
PRESETS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "x86-64": (X86_TRIPLE, "x86-64", _X86_V1),
    "x86-64-v2": (X86_TRIPLE, "x86-64-v2", _X86_V2),
    "x86-64-v3": (X86_TRIPLE, "x86-64-v3", _X86_V3),
    "x86-64-v4": (X86_TRIPLE, "x86-64-v4", _X86_V4),
    "aarch64": (AARCH64_TRIPLE, "generic", _A64 + ("dotprod", "bf16", "i8mm")),
    "aarch64-base": (AARCH64_TRIPLE, "generic", _A64),
}

#: (L1 data, L2, L3) bytes assumed for targets other than the host
DEFAULT_CACHES = {"x86_64": (32 << 10, 1 << 20, 32 << 20), "aarch64": (64 << 10, 1 << 20, 32 << 20)}


@dataclass(frozen=True)
class Target:
    """A code-generation target.  Hashable: it is part of every specialization key."""

    name: str
    triple: str
    cpu: str
    features: frozenset[str] = field(default_factory=frozenset)
    caches: tuple[int, int, int] = (32 << 10, 1 << 20, 32 << 20)     # L1 data, L2, L3 bytes

    def __post_init__(self) -> None:
        # hashed once: a target is part of look-up keys on every call (a fresh hash of the
        # feature set cost ~0.1 us a look-up)
        object.__setattr__(self, "_hash", hash((self.name, self.triple, self.cpu, self.features, self.caches)))

    def __hash__(self) -> int:
        return self._hash

    def has(self, feature: str) -> bool:
        return feature in self.features

    @property
    def feature_string(self) -> str:
        """The full, sorted LLVM feature string (`+avx2,+fma,...`)."""
        return ",".join("+" + f for f in sorted(self.features))

    @property
    def arch(self) -> str:
        return self.triple.split("-", 1)[0]

    @property
    def vector_bits(self) -> int:
        if self.arch == "aarch64":
            return 128
        if self.has("avx512f"):
            return 512
        if self.has("avx"):
            return 256
        return 128

    @property
    def vector_registers(self) -> int:
        if self.arch == "x86_64":
            return 32 if self.has("avx512f") else 16
        return 32

    def simd_width(self, bits: int) -> int:
        """Lanes of a `bits`-wide element in one vector register."""
        return self.vector_bits // bits

    @property
    def l1d(self) -> int:
        return self.caches[0]

    @property
    def l2(self) -> int:
        return self.caches[1]

    @property
    def l3(self) -> int:
        return self.caches[2]

    def describe(self) -> str:
        kib = "/".join(f"{c >> 10}K" for c in self.caches)
        return (f"{self.name}: {self.triple}, cpu={self.cpu}, {self.vector_bits}-bit vectors x "
                f"{self.vector_registers}, caches {kib}, {len(self.features)} features")


@lru_cache(maxsize=None)
def host() -> Target:
    """This machine as LLVM sees it: its triple, CPU name and features.  Asking LLVM means
    loading its library (tens of ms), so the answer is kept in the cache directory under
    a fingerprint of the machine (CPU model and flags, OS release, llvmlite's version)."""
    from . import cache
    key = _machine_fingerprint()
    record = cache.get_record(key) if key else None
    known = record.get("host") if isinstance(record, dict) else None
    if _well_formed(known):
        triple, cpu, features = known
    else:
        import llvmlite.binding as llvm      # LLVM loads when a target is first needed, not at import
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        triple, cpu = llvm.get_process_triple(), llvm.get_host_cpu_name()
        features = sorted(name for name, on in llvm.get_host_cpu_features().items() if on)
        if key:
            cache.put_record(key, {"host": [triple, cpu, features]})
    caches = _host_caches() or DEFAULT_CACHES.get(triple.split("-")[0], DEFAULT_CACHES["x86_64"])
    return Target("host", triple, cpu, frozenset(features), caches)


def _well_formed(host_record) -> bool:
    return (isinstance(host_record, list) and len(host_record) == 3 and isinstance(host_record[0], str)
            and isinstance(host_record[1], str) and isinstance(host_record[2], list)
            and all(isinstance(f, str) for f in host_record[2]))


def _machine_fingerprint() -> str | None:
    """A cache key for what LLVM would say of this machine, or None where the CPU cannot be
    described without it (no /proc/cpuinfo)."""
    import hashlib
    import platform
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            first = f.read().split("\n\n")[0]
    except OSError:
        return None
    fields = [line for line in first.splitlines()
              if line.split(":")[0].strip() in ("vendor_id", "cpu family", "model", "model name", "stepping",
                                                "flags", "CPU implementer", "CPU part", "Features")]
    if not fields:
        return None
    import llvmlite
    text = "\n".join([platform.machine(), platform.release(), llvmlite.__version__, *fields])
    return "host-" + hashlib.sha256(text.encode()).hexdigest()


def _host_caches() -> tuple[int, int, int] | None:
    """(L1 data, L2, L3) sizes from Linux's sysfs, or None where it is not readable."""
    found = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(base):
            d = os.path.join(base, entry)
            if not entry.startswith("index"):
                continue
            with open(os.path.join(d, "level")) as f:
                level = int(f.read())
            with open(os.path.join(d, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(d, "size")) as f:
                size = f.read().strip()
            if kind != "Instruction":
                found[level] = int(size[:-1]) << 10 if size.endswith("K") else int(size)
    except (OSError, ValueError):
        return None
    if 1 not in found or 2 not in found:
        return None
    return found[1], found[2], found.get(3, found[2])


def preset(name: str) -> Target:
    if name == "host":
        return host()
    if name not in PRESETS:
        valid = ", ".join(["host", *PRESETS])
        raise ValueError(f"unknown target {name!r}; valid presets: {valid}")
    triple, cpu, feats = PRESETS[name]
    arch = triple.split("-")[0]
    h = host()
    if arch == h.arch:
        triple = h.triple
    caches = h.caches if arch == h.arch else DEFAULT_CACHES[arch]
    return Target(name, triple, cpu, frozenset(feats), caches)


def can_run(target: Target) -> bool:
    """True when the host can execute code built for `target`."""
    h = host()
    return target.arch == h.arch and target.features <= h.features


@lru_cache(maxsize=None)
def allow_tiles() -> None:
    """Ask Linux for this process's permission to use AMX tile data (arch_prctl
    ARCH_REQ_XCOMP_PERM): without it the first tile instruction kills the process.
    Raises RuntimeError where the OS refuses or is not Linux on x86-64."""
    import ctypes
    import platform
    if platform.system() != "Linux" or host().arch != "x86_64":
        raise RuntimeError("AMX tiles are only enabled on Linux on x86-64 here")
    libc = ctypes.CDLL(None, use_errno=True)
    sys_arch_prctl, req_xcomp_perm, xfeature_xtiledata = 158, 0x1023, 18
    if libc.syscall(sys_arch_prctl, req_xcomp_perm, xfeature_xtiledata) != 0:
        raise RuntimeError(f"the OS does not allow AMX tiles in this process "
                           f"(arch_prctl: {os.strerror(ctypes.get_errno())})")


_current: contextvars.ContextVar[Target | None] = contextvars.ContextVar("mojolite_target", default=None)
_distinct: dict[Target, Target] = {}


def override_var() -> contextvars.ContextVar:
    """The context variable `use_target` sets (compiled fast calls read it themselves)."""
    return _current


def override() -> Target | None:
    """The target set by `use_target`, if any (cheap: checked on every fast call)."""
    return _current.get()


def current() -> Target:
    """The target code is generated for now: `use_target`, else MOJOLITE_TARGET, else the host."""
    return _current.get() or preset(settings.target)


@contextlib.contextmanager
def use_target(name_or_target: str | Target):
    target = name_or_target if isinstance(name_or_target, Target) else preset(name_or_target)
    # one object per distinct target: the fast call from Python compares them by identity
    target = _distinct.setdefault(target, target)
    token = _current.set(target)
    try:
        yield target
    finally:
        _current.reset(token)


# -- targets spelled by the user: presets, LLVM triples, CPUs and features --------------------

#: arch component spellings LLVM accepts that mojolite knows by another name
_ARCH_ALIASES = {"arm64": "aarch64", "amd64": "x86_64"}
#: (CPU, features) of a bare triple of a known arch: what LLVM's default CPU guarantees
_ARCH_DEFAULTS = {"x86_64": ("x86-64", _X86_V1), "aarch64": ("generic", _A64)}

_SPELLING = ("an LLVM triple such as 'aarch64-linux-gnu', optionally followed by ':CPU' and "
             "':+feature,-feature' (e.g. 'aarch64-linux-gnu:cortex-a76:+dotprod')")


def parse_target(spec: str | Target) -> Target:
    """The Target that `spec` names, checked against what LLVM knows.

    `spec` is a Target (returned once its triple, CPU and features are checked), a
    preset name (`preset`), or `BASE[:CPU][:FEATURES]`: BASE a preset or an LLVM
    triple, CPU an LLVM CPU name, FEATURES a comma-separated list of `+name` (add)
    and `-name` (remove from BASE's features).  A bare triple of x86-64 or AArch64
    starts from the features of its baseline (`x86-64`, `aarch64-base`).  Only the
    features named (or BASE's) count for `Target.has`; a CPU adds scheduling and
    whatever LLVM itself derives from it.  An unknown name, CPU or feature is a
    ValueError: LLVM would only print a warning and ignore it.
    """
    if isinstance(spec, Target):
        if spec == host() or (spec.name in PRESETS and spec == preset(spec.name)):
            return spec
        _check_llvm_names(spec.triple, spec.cpu, spec.features, ())
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a target is a preset name, a target string or an ml.Target, not {spec!r}")
    text = spec.strip()
    base, *rest = text.split(":")
    cpu = None
    adds, removes = [], []
    for k, part in enumerate(rest):
        part = part.strip()
        if part[:1] in ("+", "-"):
            if k != len(rest) - 1:
                raise ValueError(f"target {spec!r}: the features come last (a preset or {_SPELLING})")
            for feat in part.split(","):
                feat = feat.strip()
                if feat[:1] not in ("+", "-") or len(feat) < 2:
                    raise ValueError(f"target {spec!r}: feature {feat!r} must be '+name' or '-name'")
                (adds if feat[0] == "+" else removes).append(feat[1:])
        elif part and cpu is None and k == 0:
            cpu = part
        else:
            raise ValueError(f"target {spec!r} is not a preset or {_SPELLING}")
    if base == "host" or base in PRESETS:
        start = preset(base)
        if not rest:
            return start
        triple, feats, caches = start.triple, set(start.features), start.caches
        cpu = cpu or start.cpu
    else:
        triple = _check_triple(base, spec)
        arch = triple.split("-")[0]
        default_cpu, default_feats = _ARCH_DEFAULTS.get(arch, ("generic", ()))
        feats = set(default_feats)
        cpu = cpu or default_cpu
        h = host()
        caches = h.caches if arch == h.arch else DEFAULT_CACHES.get(arch, DEFAULT_CACHES["x86_64"])
    _check_llvm_names(triple, cpu, adds, removes)
    feats = (feats | set(adds)) - set(removes)
    return Target(text, triple, cpu, frozenset(feats), caches)


def _check_triple(base: str, spec: str) -> str:
    import llvmlite.binding as llvm

    arch, sep, rest = base.partition("-")
    triple = _ARCH_ALIASES.get(arch, arch) + sep + rest
    if sep:
        llvm.initialize_native_target()
        for init in (lambda: None, llvm.initialize_all_targets):      # all targets only for cross builds
            init()
            try:
                llvm.Target.from_triple(triple)
                return triple
            except RuntimeError:
                pass
    valid = ", ".join(["host", *PRESETS])
    raise ValueError(f"unknown target {spec!r}; valid presets: {valid}; or {_SPELLING}")


def _check_llvm_names(triple: str, cpu: str, adds, removes) -> None:
    """Every CPU and feature name must be one LLVM knows for `triple`."""
    import difflib

    cpus, features = llvm_names(triple)
    problems = []
    if cpu not in cpus:
        near = difflib.get_close_matches(cpu, sorted(cpus), 3)
        problems.append(f"unknown CPU {cpu!r}" + (f" (did you mean {', '.join(near)}?)" if near else ""))
    for name in [*adds, *removes]:
        if name not in features:
            near = difflib.get_close_matches(name, sorted(features), 3)
            problems.append(f"unknown feature {name!r}" + (f" (did you mean {', '.join(near)}?)" if near else ""))
    if problems:
        raise ValueError(f"target {triple}: {'; '.join(problems)}. LLVM knows {len(cpus)} CPUs and "
                         f"{len(features)} features for it: `llc -mtriple={triple} -mattr=help` lists them")


_HELP = r"""
import sys, llvmlite.binding as llvm
llvm.initialize_all_targets()
llvm.Target.from_triple(sys.argv[1]).create_target_machine(cpu="help", features="+help")
"""


@lru_cache(maxsize=None)
def llvm_names(triple: str) -> tuple[frozenset[str], frozenset[str]]:
    """(CPU names, feature names) LLVM knows for `triple`.

    LLVM lists them on stderr when asked for the CPU "help", once per process (a
    static flag), so a child process asks.  The names of `generic` and the host
    are always included."""
    import re
    import subprocess
    import sys

    try:
        out = subprocess.run([sys.executable, "-c", _HELP, triple], capture_output=True, text=True,
                             timeout=60).stderr
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(f"cannot list LLVM's CPUs and features for {triple}: {e}") from None
    cpu_part, found, feature_part = out.partition("Available features for this target:")
    if not found:
        raise RuntimeError(f"cannot list LLVM's CPUs and features for {triple}: {out[-500:]!r}")
    names = lambda text: frozenset(re.findall(r"^  (\S+)\s+- ", text, re.M))   # noqa: E731
    cpus, features = names(cpu_part) | {"generic"}, names(feature_part)
    h = host()
    if triple.split("-")[0] == h.arch:
        cpus |= {h.cpu}
    return cpus, features
