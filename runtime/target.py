"""What machine code is generated for: the Target description and its presets.

Owns: detecting the host (from LLVM's CPU name *and* its feature string, never
the name alone), the named presets, the current-target context
(`MOJOLITE_TARGET`, `use_target`), and whether the host can run a target's
code.  Does not own code generation or the JIT; those take a Target.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from functools import lru_cache

from .config import settings

_X86_V1 = ("cmov", "cx8", "fxsr", "mmx", "sse", "sse2")
_X86_V2 = _X86_V1 + ("cx16", "popcnt", "sahf", "sse3", "sse4.1", "sse4.2", "ssse3")
_X86_V3 = _X86_V2 + ("avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave")
_X86_V4 = _X86_V3 + ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")

#: preset name -> (LLVM CPU name, features it guarantees)
PRESETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "x86-64": ("x86-64", _X86_V1),
    "x86-64-v2": ("x86-64-v2", _X86_V2),
    "x86-64-v3": ("x86-64-v3", _X86_V3),
    "x86-64-v4": ("x86-64-v4", _X86_V4),
}


@dataclass(frozen=True)
class Target:
    """A code-generation target.  Hashable: it is part of every specialization key."""

    name: str
    triple: str
    cpu: str
    features: frozenset[str] = field(default_factory=frozenset)

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

    def describe(self) -> str:
        return (f"{self.name}: {self.triple}, cpu={self.cpu}, {self.vector_bits}-bit vectors, "
                f"{len(self.features)} features")


@lru_cache(maxsize=None)
def host() -> Target:
    import llvmlite.binding as llvm      # LLVM loads when a target is first needed, not at import

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    feats = llvm.get_host_cpu_features()
    enabled = frozenset(name for name, on in feats.items() if on)
    return Target("host", llvm.get_process_triple(), llvm.get_host_cpu_name(), enabled)


def preset(name: str) -> Target:
    if name == "host":
        return host()
    if name not in PRESETS:
        valid = ", ".join(["host", *PRESETS])
        raise ValueError(f"unknown target {name!r}; valid presets: {valid}")
    cpu, feats = PRESETS[name]
    return Target(name, host().triple if host().arch == "x86_64" else "x86_64-unknown-linux-gnu",
                  cpu, frozenset(feats))


def can_run(target: Target) -> bool:
    """True when the host can execute code built for `target`."""
    h = host()
    return target.arch == h.arch and target.features <= h.features


_current: contextvars.ContextVar[Target | None] = contextvars.ContextVar("mojolite_target", default=None)


def override() -> Target | None:
    """The target set by `use_target`, if any (cheap: checked on every fast call)."""
    return _current.get()


def current() -> Target:
    """The target code is generated for now: `use_target`, else MOJOLITE_TARGET, else the host."""
    return _current.get() or preset(settings.target)


@contextlib.contextmanager
def use_target(name_or_target: str | Target):
    target = name_or_target if isinstance(name_or_target, Target) else preset(name_or_target)
    token = _current.set(target)
    try:
        yield target
    finally:
        _current.reset(token)
