"""LLVM IR text -> optimised module -> object code -> callable addresses.

Owns: the one process-wide ORC LLJIT, target machines per Target, the
optimisation pipeline, and object emission (also used for asm and AOT).
Does not own what the IR means: it receives finished IR text.

LLJIT rather than MCJIT because an unresolved symbol (a libcall such as
`__truncsfbf2` that nothing defines) is a Python RuntimeError at link time
instead of a jump to address zero at run time.
"""
from __future__ import annotations

import itertools
import threading

import llvmlite.binding as llvm

from .target import Target, host

_lock = threading.RLock()          # llvmlite's global context is not thread-safe
_names = itertools.count()
_jit: llvm.LLJIT | None = None
_machines: dict[tuple[Target, int], llvm.TargetMachine] = {}


def _init(target: Target) -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    if target.arch != host().arch and not getattr(_init, "done_all", False):   # cross builds only
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        _init.done_all = True


def _new_machine(target: Target, opt_level: int) -> llvm.TargetMachine:
    _init(target)
    return llvm.Target.from_triple(target.triple).create_target_machine(
        cpu=target.cpu, features=target.feature_string, opt=opt_level,
        reloc="pic", codemodel="jitdefault" if target == host() else "default")


def machine(target: Target, opt_level: int = 3) -> llvm.TargetMachine:
    key = (target, opt_level)
    with _lock:
        if key not in _machines:
            _machines[key] = _new_machine(target, opt_level)
        return _machines[key]


def optimize(ir_text: str, target: Target, opt_level: int = 3) -> llvm.ModuleRef:
    """Parse, verify and optimise `ir_text` for `target`."""
    with _lock:
        tm = machine(target, opt_level)
        mod = llvm.parse_assembly(ir_text)
        mod.triple = target.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
        if opt_level > 0:
            pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
            pto.loop_vectorization = True
            pto.slp_vectorization = True
            pto.loop_unrolling = True
            pb = llvm.create_pass_builder(tm, pto)
            pb.getModulePassManager().run(mod, pb)
            mod.verify()
        return mod


def emit_object(mod: llvm.ModuleRef, target: Target, opt_level: int = 3) -> bytes:
    with _lock:
        return machine(target, opt_level).emit_object(mod)


def emit_assembly(mod: llvm.ModuleRef, target: Target, opt_level: int = 3) -> str:
    with _lock:
        return machine(target, opt_level).emit_assembly(mod)


class Library:
    """Machine code loaded into the JIT; keeps it alive while referenced."""

    def __init__(self, tracker, symbols: tuple[str, ...]):
        self._tracker = tracker
        self.addresses = {s: tracker[s] for s in symbols}

    def address(self, symbol: str) -> int:
        return self.addresses[symbol]


def load(obj: bytes, symbols: tuple[str, ...], imports: dict[str, int] | None = None) -> Library:
    """Link an object file (built for a target the host can run) into the process;
    `imports` gives addresses for symbols the code uses that the process does not export."""
    global _jit
    with _lock:
        if _jit is None:
            _jit = llvm.create_lljit_compiler(_new_machine(host(), 3), suppress_errors=True)
        builder = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
        for name, address in (imports or {}).items():
            builder.import_symbol(name, address)
        for s in symbols:
            builder.export_symbol(s)
        try:
            tracker = builder.link(_jit, f"mojolite{next(_names)}")
        except RuntimeError as e:
            raise RuntimeError(f"linking compiled code failed (an unresolved symbol?): {e}") from None
        return Library(tracker, symbols)
