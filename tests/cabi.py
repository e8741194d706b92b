"""A generated C harness for ahead-of-time objects, shared by test_aot.py and test_neon.py.

`run(calls, workdir, cross=...)` links the objects of `calls` into one program
with a C file written here, runs it (natively, or under `qemu-aarch64 -cpu max`
for cross builds) and returns, per call, its status, the arrays it was given (as
they were afterwards) and its result.  Arrays travel through raw files: each array
argument is a view of a C-contiguous root buffer (any offset, strides and sign),
and the harness loads every root buffer once, builds the `ml_tensor`s of the
views, calls the functions in order and writes the buffers and results back.
"""
from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from mojolite.codegen.centry import C_TYPES
from mojolite.mltypes import TensorType

CROSS_CC, QEMU = "aarch64-linux-gnu-gcc", "qemu-aarch64"


@dataclass
class Call:
    obj: object                       # a CompiledObject
    args: list                        # arrays and scalars, in the C parameters' order
    null_result: bool = False         # pass NULL as the result pointer


@dataclass
class Result:
    status: int
    arrays: list                      # the array arguments afterwards (None for scalars)
    value: object = None              # what was written through the result pointer


def _root(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    assert a.flags.c_contiguous, "array arguments must be views of a C-contiguous array"
    return a


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _literal(t, v) -> str:
    """A C expression for the scalar `v` of dtype `t`, exactly."""
    if t.name == "bool":
        return "true" if v else "false"
    if t.name == "bf16":
        return f"(uint16_t)0x{int(np.array(v, ml_dtypes.bfloat16).view(np.uint16)):04x}"
    if t.is_float:
        x = float(np.float32(v)) if t.name == "f32" else float(v)
        text = ("NAN" if math.isnan(x) else "INFINITY" if x > 0 else "-INFINITY") if not math.isfinite(x) \
            else x.hex() + ("f" if t.name == "f32" else "")
        return f"(({C_TYPES[t.name]}){text})"
    v = int(v)
    if t.name == "u64":
        return f"UINT64_C({v})"
    return f"(({C_TYPES[t.name]})(INT64_C({v + 1}) - 1))"         # also -2**63


def _int64s(values) -> str:
    return "{" + ", ".join(f"INT64_C({x})" for x in values) + "}" if len(values) else "{0}"


def _program(calls, roots) -> str:
    headers = sorted({c.obj.symbol for c in calls})
    out = ["#include <math.h>", "#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>"]
    out += [f'#include "{h}.h"' for h in headers]
    out += ["""
static const char *dir;
static FILE *at(const char *name, const char *mode) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, mode);
    if (!f) { perror(path); exit(2); }
    return f;
}
static char *load(const char *name, size_t n) {
    char *p = aligned_alloc(64, (n + 127) / 64 * 64);
    FILE *f = at(name, "rb");
    if (fread(p, 1, n, f) != n) { fprintf(stderr, "short read: %s\\n", name); exit(2); }
    fclose(f);
    return p;
}
static void save(const char *name, const void *p, size_t n) {
    FILE *f = at(name, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}
int main(int argc, char **argv) {
    (void)argc;
    dir = argv[1];"""]
    out += [f'    char *r{k} = load("root{k}.bin", {r.nbytes});' for k, r in enumerate(roots)]
    index = {id(r): k for k, r in enumerate(roots)}
    for n, call in enumerate(calls):
        out.append("    {")
        cargs = []
        for k, ((_, t), v) in enumerate(zip(call.obj.params, call.args)):
            if isinstance(t, TensorType):
                root = _root(v)
                strides = [s // v.itemsize for s in v.strides]
                assert [s * v.itemsize for s in strides] == list(v.strides)
                out.append(f"        static const int64_t shape{k}[] = {_int64s(v.shape)};")
                out.append(f"        static const int64_t strides{k}[] = {_int64s(strides)};")
                out.append(f"        ml_tensor t{k} = {{r{index[id(root)]} + {_address(v) - _address(root)}, "
                           f"shape{k}, strides{k}, {v.ndim}}};")
                cargs.append(f"&t{k}")
            else:
                cargs.append(_literal(t, v))
        if call.obj.ret is not None:
            out.append(f"        {C_TYPES[call.obj.ret.name]} value;")
            out.append("        memset(&value, 0x5A, sizeof value);")
            cargs.append("NULL" if call.null_result else "&value")
        out.append(f"        int32_t status = {call.obj.symbol}({', '.join(cargs)});")
        out.append('        printf("%d\\n", (int)status);')
        if call.obj.ret is not None:
            out.append(f'        save("value{n}.bin", &value, sizeof value);')
        out.append("    }")
    out += [f'    save("root{k}.out", r{k}, {r.nbytes});' for k, r in enumerate(roots)]
    out += ["    return 0;", "}", ""]
    return "\n".join(out)


@functools.lru_cache(maxsize=None)
def toolchain_problem(cross: bool) -> str | None:
    """Why programs cannot be built and run here (None: they can)."""
    cc = CROSS_CC if cross else "gcc"
    tools = [cc, QEMU] if cross else [cc]
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (Debian: qemu-user, gcc-aarch64-linux-gnu)"
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "probe.c")
        with open(src, "w") as f:
            f.write("#include <stdio.h>\nint main(void) { puts(\"ok\"); return 0; }\n")
        flags = ["-static"] if cross else []
        out = subprocess.run([cc, *flags, "-o", os.path.join(d, "probe"), src], capture_output=True, text=True)
        if out.returncode != 0:
            return f"{cc} cannot build a C program (libc6-dev-arm64-cross missing?): {out.stderr[-300:]}"
    return None


def build(calls, workdir, cross: bool) -> str:
    """Write the objects, headers and harness into `workdir` and link them; the executable's path."""
    os.makedirs(workdir, exist_ok=True)
    objs = {c.obj.symbol: c.obj for c in calls}
    paths = [obj.save(workdir)[0] for obj in objs.values()]
    roots = _roots(calls)
    src = os.path.join(workdir, "harness.c")
    with open(src, "w") as f:
        f.write(_program(calls, roots))
    exe = os.path.join(workdir, "harness")
    cc = [CROSS_CC, "-static"] if cross else ["gcc"]
    cmd = [*cc, "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-I", str(workdir), "-o", exe, src, *paths, "-lm"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stderr}"
    return exe


def _roots(calls) -> list:
    roots = {}
    for call in calls:
        for v in call.args:
            if isinstance(v, np.ndarray):
                roots.setdefault(id(_root(v)), _root(v))
    return list(roots.values())


def run(calls: list[Call], workdir, cross: bool = False, timeout: float = 120) -> list[Result]:
    """Build the harness, run every call in order, and return what each left."""
    exe = build(calls, workdir, cross)
    roots = _roots(calls)
    for k, r in enumerate(roots):
        r.tofile(os.path.join(workdir, f"root{k}.bin"))
    cmd = [QEMU, "-cpu", "max", exe, str(workdir)] if cross else [exe, str(workdir)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)} exited {out.returncode}\n{out.stdout}\n{out.stderr}"
    statuses = [int(s) for s in out.stdout.split()]
    assert len(statuses) == len(calls), out.stdout
    after = {}
    for k, r in enumerate(roots):
        data = np.fromfile(os.path.join(workdir, f"root{k}.out"), dtype=np.uint8)
        after[id(r)] = data.view(r.dtype).reshape(r.shape)
    results = []
    for n, (call, status) in enumerate(zip(calls, statuses)):
        arrays = []
        for v in call.args:
            if isinstance(v, np.ndarray):
                root = _root(v)
                new = after[id(root)]
                offset = _address(v) - _address(root)
                flat = new.reshape(-1).view(np.uint8)[offset:]
                start = flat[:flat.size // v.itemsize * v.itemsize].view(v.dtype)
                arrays.append(np.lib.stride_tricks.as_strided(start, v.shape, v.strides, writeable=False))
            else:
                arrays.append(None)
        value = None
        if call.obj.ret is not None:
            raw = np.fromfile(os.path.join(workdir, f"value{n}.bin"), dtype=np.uint8)
            value = raw.view(np.uint16).view(ml_dtypes.bfloat16)[0] if call.obj.ret.name == "bf16" \
                else raw.view(call.obj.ret.numpy)[0]
        results.append(Result(status, arrays, value))
    return results
