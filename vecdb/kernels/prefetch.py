"""Software prefetch: ask the CPU to start loading memory a kernel is about to read.

Searches touch a few hundred KB that the previous query (another tenant's) has pushed out of the CPU's
caches, and the loops over it are branchy (heap pushes): a mispredicted branch stops the CPU from
issuing the next rows' loads until the current ones arrive, so the misses are paid one after another.
Hinting every line of a shortlist (or of a node's children's centroids) before the loop lets the
misses overlap. A prefetch is only a hint: it never faults and changes no result.
"""

from __future__ import annotations

import numba as nb
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: bytes in a cache line on the x86 and arm64 CPUs this runs on.
LINE = 64


@intrinsic
def _prefetch(typingctx, arr, first, offset):
    """llvm.prefetch (read, keep in every cache level) of the byte `offset` bytes past arr[first, 0, ...]."""
    if not isinstance(arr, types.Array) or not isinstance(first, types.Integer) \
            or not isinstance(offset, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [index] + [zero] * (aryty.ndim - 1),
                                       wraparound=False)
        byte = ir.IntType(8)
        i32 = ir.IntType(32)
        addr = builder.gep(builder.bitcast(ptr, byte.as_pointer()),
                           [context.cast(builder, args[2], sig.args[2], types.intp)])
        fnty = ir.FunctionType(ir.VoidType(), [byte.as_pointer(), i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", [byte.as_pointer()], fnty=fnty)
        builder.call(fn, [addr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, first, offset), codegen


@nb.njit(cache=True, nogil=True, inline="always")
def prefetch_rows(a, lo, hi):
    """Prefetch rows [lo, hi) of a C-contiguous array (elements for a 1-D one), every cache line."""
    if hi <= lo:
        return
    row = a.itemsize
    for j in range(1, a.ndim):
        row *= a.shape[j]
    for off in range(0, (hi - lo) * row, LINE):
        _prefetch(a, lo, off)


@nb.njit(cache=True, nogil=True, inline="always")
def prefetch_row(a, i):
    """Prefetch row i of a C-contiguous array, every cache line."""
    prefetch_rows(a, i, i + 1)
