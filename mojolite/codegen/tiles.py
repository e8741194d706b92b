"""Matrix-tile operations (mojolite.tiles) -> AMX instructions.

Goals: each `ir.TileOp` becomes one AMX intrinsic with its tile numbers as
immediates (`tilezero`, `tileloadd`, `tilestored`, `tdpbssd`, `tdpbf16ps`);
the kernel called from Python (or C) loads the one configuration (8 tiles of
16 rows x 64 bytes; `ldtilecfg`) at its start when it or any kernel it calls
uses tiles, and releases them before it returns (`tilerelease`); the chunk
function of a parallel loop configures them for its thread too.  Loads and stores check what the addressing needs: the
tile's rows must have contiguous elements, and with bounds checks every row
must lie inside the tensor.
Non-goals: the OS permission to use AMX (runtime.target asks for it when code
that uses tiles is loaded); typing (typer.tiles).
"""
from __future__ import annotations

from llvmlite import ir as ll

from .. import ir, tiles
from .lltypes import I8, I64, PTR, i64

#: ldtilecfg's 64 bytes: palette 1, then per tile its bytes per row (u16 at 16 + 2t)
#: and its rows (u8 at 48 + t)
CONFIG = bytes([1] + [0] * 15 + [tiles.ROW_BYTES, 0] * tiles.COUNT + [0] * 16
               + [tiles.ROWS] * tiles.COUNT + [0] * 8)

DOT = {"dot4_i8": "llvm.x86.tdpbssd", "dot2_bf16": "llvm.x86.tdpbf16ps"}


class TileLowerer:
    """Mixin of FunctionLowerer."""

    def _lower_TileOp(self, s: ir.TileOp):
        self.mb.tile_functions.add(self.llfn.name)
        t = [ll.Constant(I8, k) for k in s.tiles]
        if s.op == "zero":
            self.b.call(self.mb.declare("llvm.x86.tilezero", ll.VoidType(), [I8]), t)
        elif s.op in DOT:
            self.b.call(self.mb.declare(DOT[s.op], ll.VoidType(), [I8, I8, I8]), t)
        else:
            ptr, stride = self._tile_rows(s)
            name = "llvm.x86.tileloadd64" if s.op == "load" else "llvm.x86.tilestored64"
            self.b.call(self.mb.declare(name, ll.VoidType(), [I8, PTR, I64]), [t[0], ptr, stride])

    def calls_tiles(self, callee: str):
        """A call of a function that uses tiles makes this one use them too."""
        if callee in self.mb.tile_functions:
            self.mb.tile_functions.add(self.llfn.name)

    def _tile_rows(self, s: ir.TileOp):
        """The first row's address and the row stride in bytes, after the checks."""
        b, view = self.b, self.tensors[s.tensor.name]
        per = tiles.ROW_BYTES // view.dtype.itemsize           # elements in one row of the tile
        last = view.strides[-1]
        if not (isinstance(last, ll.Constant) and last.constant == 1):
            self.check(b.icmp_signed("!=", last, i64(1)), "value",
                       f"ml.tile_{s.op} needs the elements of '{s.tensor.name}' contiguous along its last "
                       "axis (its stride there is {0})", (last,), s.loc)
        if len(view.shape) == 2:
            row, col = s.indices
            ptr, _ = self.address(s.tensor, (row, col), s.loc, span=per)
            if self.fn.boundscheck:
                first = self.expr(row)
                self.check(b.icmp_signed(">", b.add(first, i64(tiles.ROWS)), view.shape[0]), "index",
                           f"ml.tile_{s.op}: rows {{0}}..{{0}}+{tiles.ROWS - 1} are out of bounds for axis 0 "
                           f"of '{s.tensor.name}' with size {{1}}", (first, view.shape[0]), s.loc)
            return ptr, b.mul(view.strides[0], i64(view.dtype.itemsize))
        offset, stride = s.indices
        ptr, _ = self.address(s.tensor, (offset,), s.loc, span=per)
        step = self.expr(stride)
        if self.fn.boundscheck:
            start = b.add(self.expr(offset), b.mul(step, i64(tiles.ROWS - 1)))   # the last row
            bad = b.or_(b.icmp_signed("<", start, i64(0)), b.icmp_signed(">", b.add(start, i64(per)), view.shape[0]))
            self.check(bad, "index", f"ml.tile_{s.op}: the last row, elements {{0}}..{{0}}+{per - 1}, is out of "
                       f"bounds for '{s.tensor.name}' with size {{1}}", (start, view.shape[0]), s.loc)
        return ptr, b.mul(step, i64(view.dtype.itemsize))

    def finish_tiles(self, chunk: bool = False):
        """Where this function uses tiles (itself or through callees) and starts a thread's
        use of them — it is the entry point, or a chunk of a parallel loop — configure them
        at its start; the entry point also releases them before every return (a chunk
        leaves them configured: its thread may be the caller's, which goes on using them)."""
        if self.llfn.name not in self.mb.tile_functions:
            return
        entry = self.fn.symbol == self.mb.module.name and not chunk
        if not (entry or chunk):
            return
        cfg = self.mb.module.globals.get("mojolite.tilecfg")
        if cfg is None:
            kind = ll.ArrayType(I8, len(CONFIG))
            cfg = ll.GlobalVariable(self.mb.module, kind, "mojolite.tilecfg")
            cfg.initializer, cfg.global_constant, cfg.linkage, cfg.align = \
                ll.Constant(kind, bytearray(CONFIG)), True, "private", 64
        b = ll.IRBuilder(self.llfn.blocks[0])
        b.position_at_start(self.llfn.blocks[0])
        b.call(self.mb.declare("llvm.x86.ldtilecfg", ll.VoidType(), [PTR]), [cfg])
        if not entry:
            return
        release = self.mb.declare("llvm.x86.tilerelease", ll.VoidType(), [])
        for block in self.llfn.blocks:
            term = block.terminator
            if term is not None and term.opname == "ret":
                b = ll.IRBuilder(block)
                b.position_before(term)
                b.call(release, [])
