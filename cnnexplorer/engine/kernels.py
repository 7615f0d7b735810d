"""Fast NumPy compute kernels for one image, channels-last ``(H, W, C)``.

Conventions shared by every kernel (see also :mod:`.reference`, the slow
twins these are tested against):

* input ``x`` is ``(H, W, C)``, any float dtype/strides; outputs are
  C-contiguous float32;
* weights use the Keras layouts; convolution is cross-correlation;
* padding arrives resolved as ``pads=((top, bottom), (left, right))``;
* ``tick`` (optional) is called as ``tick(fraction_done)`` between chunks of
  work and may raise to cancel — the exception propagates untouched;
* big layers are processed in chunks of output rows so that no temporary
  grows past a few tens of MiB (see :data:`CHUNK_BYTES`).

Convolution paths (chosen in :func:`conv2d`):

* **Winograd F(2x2, 3x3)** for 3x3, stride 1, dilation 1, ungrouped
  convolutions with enough channels: input tiles are transformed with
  strided element-wise ops, the 16 transform-domain products are one
  batched BLAS sgemm ``(16, tiles, C) @ (16, C, F)``, then the inverse
  transform writes straight into the output.  2.25x fewer multiplies than
  direct convolution.
* **1x1 convolution**: a plain sgemm on the (strided) input.
* **im2col + sgemm** for everything else: the padded input rows a chunk
  needs are gathered into a preallocated column buffer (one contiguous
  ``kw*C`` run per kernel row when dilation is 1) and multiplied by the
  reshaped kernel with one sgemm per chunk, written in place into the
  output.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..model.geometry import output_length

__all__ = [
    "conv2d", "depthwise_conv2d", "max_pool2d", "avg_pool2d",
    "global_avg_pool", "global_max_pool", "zero_pad2d", "flatten", "dense",
    "activation", "batch_norm", "lrn", "dropout", "conv2d_workspace_bytes",
    "depthwise_conv2d_workspace_bytes", "ACTIVATIONS", "matmul", "SMALL_GEMM_MACS",
]

#: Target size of the big per-chunk temporaries (column buffer, Winograd
#: transform buffers).  Every temporary stays below ``CHUNK_BYTES`` except
#: when a single output row already needs more (then that row is split by
#: columns), so the 64 MiB ceiling holds with room to spare.
CHUNK_BYTES = 8 * 1024 * 1024

_F32 = np.float32
_ITEM = 4
#: Added to every workspace bound: NumPy's own small internal buffers
#: (ufunc/matmul iteration buffers, index arrays) and per-call scraps.
_WORKSPACE_SLACK = 1 << 20


# --------------------------------------------------------------------------
# BLAS threads: small products run on one thread
# --------------------------------------------------------------------------

#: Products (each matrix of a batched product) with fewer multiply-adds than this run on one BLAS thread (a few
#: ms of single-threaded sgemm; above it two threads were never much slower even on the loaded machine).
#: OpenBLAS splits every product above 262,144 multiply-adds across its threads; on a loaded machine a split
#: product waits for a descheduled helper thread, and a 13 M multiply-add product (Dense 1600→128, batch 64)
#: measured 0.4 ms on one thread and 60–120 ms on two (benchmarks/bench_train.py, docs/performance.md).
SMALL_GEMM_MACS = 64_000_000


def _openblas_thread_setter():
    """``(set_threads, threads)`` for the OpenBLAS that NumPy's wheel bundles, or ``None`` (another BLAS, a
    system NumPy, one thread already): ``set_threads(n)`` is OpenBLAS' ``openblas_set_num_threads_local``."""
    here = os.path.dirname(os.path.abspath(np.__file__))
    paths = [p for d in (os.path.join(here, os.pardir, "numpy.libs"), os.path.join(here, ".dylibs"))
             for p in sorted(glob.glob(os.path.join(d, "*openblas*")))]
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = getattr(lib, "openblas_set_num_threads_local", None)
        getter = next((getattr(lib, n) for n in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                                                  "openblas_get_num_threads") if hasattr(lib, n)), None)
        if setter is None or getter is None:
            continue
        setter.argtypes, setter.restype, getter.restype = [ctypes.c_int], ctypes.c_int, ctypes.c_int
        threads = int(getter())
        return (setter, threads) if threads > 1 else None
    return None


_BLAS = None                # resolved on the first call of matmul: (setter, threads) or False


def matmul(a, b, out=None):
    """``np.matmul(a, b, out=out)``; a product (each of a batch) of fewer than :data:`SMALL_GEMM_MACS` multiply-adds runs on one
    BLAS thread (where NumPy's bundled OpenBLAS lets us say so), then the thread count is restored."""
    global _BLAS
    if _BLAS is None:
        _BLAS = _openblas_thread_setter() or False
    if not _BLAS or a.ndim < 2 or b.ndim < 2:
        return np.matmul(a, b, out=out)
    if a.shape[-2] * a.shape[-1] * b.shape[-1] >= SMALL_GEMM_MACS:      # per product: NumPy calls sgemm per item
        return np.matmul(a, b, out=out)
    setter, threads = _BLAS
    setter(1)
    try:
        return np.matmul(a, b, out=out)
    finally:
        setter(threads)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _as_f32(x):
    x = np.asarray(x)
    if x.dtype != _F32:
        x = x.astype(_F32)
    return x


def _conv_output_hw(H, W, kh, kw, strides, pads, dilation):
    """Output size from the core's one output-size function; empty outputs are refused."""
    (top, bottom), (left, right) = pads
    Ho = output_length(H, kh, strides[0], dilation[0], top, bottom)
    Wo = output_length(W, kw, strides[1], dilation[1], left, right)
    if Ho <= 0 or Wo <= 0:
        raise ValueError(f"convolution output would be empty ({Ho}x{Wo})")
    return Ho, Wo


def _tick(tick, frac):
    if tick is not None:
        tick(min(1.0, max(0.0, float(frac))))


def _row_chunks(n_rows, row_bytes, budget=None):
    """Split ``range(n_rows)`` into consecutive chunks of about ``budget``."""
    if budget is None:
        budget = CHUNK_BYTES
    per = max(1, int(budget // max(1, row_bytes)))
    per = min(per, n_rows) if n_rows else 1
    # balance the chunks so the last one is not a tiny leftover
    n_chunks = max(1, -(-n_rows // per))
    per = -(-n_rows // n_chunks) if n_rows else 1
    return [(r, min(n_rows, r + per)) for r in range(0, n_rows, per)]


def _fill_slab(slab, x, row0, col0):
    """Copy the part of ``x`` that falls in ``slab`` and zero the rest.

    ``slab`` covers input rows ``[row0, row0 + slab_rows)`` and columns
    ``[col0, col0 + slab_cols)`` in *unpadded* input coordinates (they may be
    negative or past the end: those positions are zero padding).
    """
    H, W = x.shape[:2]
    sr, sc = slab.shape[:2]
    r_lo, r_hi = max(row0, 0), min(row0 + sr, H)
    c_lo, c_hi = max(col0, 0), min(col0 + sc, W)
    if r_hi <= r_lo or c_hi <= c_lo:
        slab[...] = 0
        return
    a, b = r_lo - row0, r_hi - row0
    c, d = c_lo - col0, c_hi - col0
    if a:
        slab[:a] = 0
    if b < sr:
        slab[b:] = 0
    if c:
        slab[a:b, :c] = 0
    if d < sc:
        slab[a:b, d:] = 0
    slab[a:b, c:d] = x[r_lo:r_hi, c_lo:c_hi]


def _input_slab(x, row0, n_rows, col0, n_cols, buf):
    """View or copy of padded-input rows/cols; ``buf`` is reused storage."""
    H, W = x.shape[:2]
    if row0 >= 0 and col0 >= 0 and row0 + n_rows <= H and col0 + n_cols <= W:
        return x[row0:row0 + n_rows, col0:col0 + n_cols]
    slab = buf[:n_rows * n_cols * x.shape[2]].reshape(n_rows, n_cols, x.shape[2])
    _fill_slab(slab, x, row0, col0)
    return slab


# --------------------------------------------------------------------------
# convolution: planning
# --------------------------------------------------------------------------

def _conv_geometry(in_shape, kernel_shape, strides, pads, dilation, groups):
    H, W, C = in_shape
    kh, kw, cg, F = kernel_shape
    if C % groups or F % groups or cg != C // groups:
        raise ValueError(
            f"kernel {tuple(kernel_shape)} does not fit input channels {C} "
            f"with groups={groups}")
    (top, bottom), (left, right) = pads
    sh, sw = strides
    dh, dw = dilation
    Ho, Wo = _conv_output_hw(H, W, kh, kw, strides, pads, dilation)
    return H, W, C, kh, kw, cg, F, top, left, sh, sw, dh, dw, Ho, Wo


def _use_winograd(kh, kw, sh, sw, dh, dw, groups, C, F, Ho, Wo):
    return (kh == 3 and kw == 3 and sh == 1 and sw == 1 and dh == 1
            and dw == 1 and groups == 1 and C >= 16 and F >= 16
            and Ho >= 4 and Wo >= 4)


def _winograd_plan(C, F, Ho, Wo):
    th, tw = -(-Ho // 2), -(-Wo // 2)
    # per tile row: V (16, tw, C) + M (16, tw, F) + row-pass temps + slab
    row_bytes = _ITEM * tw * (16 * C + 16 * F + 4 * C + 2 * C)
    chunks = _row_chunks(th, row_bytes)
    return th, tw, chunks


def _im2col_plan(Ho, Wo, K):
    """Return (row_chunks, col_step) for the column buffer."""
    row_bytes = Wo * K * _ITEM
    if row_bytes <= CHUNK_BYTES:
        return _row_chunks(Ho, row_bytes), Wo
    col_step = max(1, CHUNK_BYTES // (K * _ITEM))
    return [(r, r + 1) for r in range(Ho)], col_step


def conv2d_workspace_bytes(in_shape, kernel_shape, strides=(1, 1),
                           pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """Upper bound on temporary bytes :func:`conv2d` allocates beyond its output.

    Does not count a float32 copy of ``x`` made when the input is not
    float32 already.
    """
    (H, W, C, kh, kw, cg, F, top, left, sh, sw, dh, dw, Ho, Wo) = \
        _conv_geometry(in_shape, kernel_shape, strides, pads, dilation, groups)
    if _use_winograd(kh, kw, sh, sw, dh, dw, groups, C, F, Ho, Wo):
        th, tw, chunks = _winograd_plan(C, F, Ho, Wo)
        nt = max(b - a for a, b in chunks)
        P = nt * tw
        slab = (2 * nt + 2) * (2 * tw + 2) * C
        rowpass = 4 * nt * (2 * tw + 2) * C
        vbuf = 16 * P * C
        mbuf = 16 * P * F
        outpass = 3 * P * F           # output-transform temporaries
        kern = 16 * C * F  # transformed kernel
        return (_ITEM * (slab + rowpass + vbuf + mbuf + outpass + kern)
                + _WORKSPACE_SLACK)
    kern = kh * kw * cg * F  # contiguous kernel matrix (at most one copy)
    if kh == 1 and kw == 1 and top == 0 and left == 0 and groups == 1:
        chunks = _row_chunks(Ho, Wo * C * _ITEM)
        rows = max(b - a for a, b in chunks)
        return _ITEM * (rows * Wo * C + kern) + _WORKSPACE_SLACK
    K = kh * kw * cg
    chunks, col_step = _im2col_plan(Ho, Wo, K)
    rows = max(b - a for a, b in chunks)
    cols = min(col_step, Wo)
    rows_in = (rows - 1) * sh + dh * (kh - 1) + 1
    cols_in = (cols - 1) * sw + dw * (kw - 1) + 1
    slab = rows_in * cols_in * C
    colbuf = rows * cols * K
    tmp_out = rows * cols * (F // groups) if (groups > 1 or cols < Wo) else 0
    return _ITEM * (slab + colbuf + tmp_out + kern) + _WORKSPACE_SLACK


# --------------------------------------------------------------------------
# convolution: im2col + sgemm
# --------------------------------------------------------------------------

def _im2col_fill(col, slab, kh, kw, sh, sw, dh, dw, c0, cg):
    """Gather patches of ``slab[..., c0:c0+cg]`` into ``col``.

    ``col`` has shape (rows, cols, kh, kw, cg); ``slab`` covers exactly the
    padded input needed by those outputs.
    """
    rows, cols = col.shape[:2]
    s0, s1, s2 = slab.strides
    C = slab.shape[2]
    whole_run = (dw == 1 and cg == C and s2 == _ITEM and s1 == C * _ITEM)
    for ky in range(kh):
        base = slab[ky * dh:]
        if whole_run:
            # kw*C consecutive floats per (row, col): one copy per kernel row
            src = as_strided(base, shape=(rows, cols, kw * C),
                             strides=(s0 * sh, s1 * sw, _ITEM),
                             writeable=False)
            dst = col[:, :, ky].reshape(rows, cols, kw * C)
            np.copyto(dst, src)
        else:
            for kx in range(kw):
                src = base[:(rows - 1) * sh + 1:sh,
                           kx * dw:kx * dw + (cols - 1) * sw + 1:sw,
                           c0:c0 + cg]
                np.copyto(col[:, :, ky, kx], src)


def _conv_im2col(x, kernel, out, geom, groups, tick):
    (H, W, C, kh, kw, cg, F, top, left, sh, sw, dh, dw, Ho, Wo) = geom
    fg = F // groups
    K = kh * kw * cg
    kmat = np.ascontiguousarray(kernel.reshape(K, F))
    chunks, col_step = _im2col_plan(Ho, Wo, K)
    rows_max = max(b - a for a, b in chunks)
    cols_max = min(col_step, Wo)
    rows_in_max = (rows_max - 1) * sh + dh * (kh - 1) + 1
    cols_in_max = (cols_max - 1) * sw + dw * (kw - 1) + 1
    slab_buf = np.empty(rows_in_max * cols_in_max * C, dtype=_F32)
    col_buf = np.empty(rows_max * cols_max * K, dtype=_F32)
    tmp_buf = None
    if groups > 1 or cols_max < Wo:
        tmp_buf = np.empty(rows_max * cols_max * fg, dtype=_F32)
    n_steps = len(chunks) * -(-Wo // cols_max)
    step = 0
    for r0, r1 in chunks:
        rows = r1 - r0
        for q0 in range(0, Wo, cols_max):
            q1 = min(Wo, q0 + cols_max)
            cols = q1 - q0
            rows_in = (rows - 1) * sh + dh * (kh - 1) + 1
            cols_in = (cols - 1) * sw + dw * (kw - 1) + 1
            slab = _input_slab(x, r0 * sh - top, rows_in, q0 * sw - left,
                               cols_in, slab_buf)
            col = col_buf[:rows * cols * K].reshape(rows, cols, kh, kw, cg)
            colm = col.reshape(rows * cols, K)
            for g in range(groups):
                _im2col_fill(col, slab, kh, kw, sh, sw, dh, dw, g * cg, cg)
                kg = kmat[:, g * fg:(g + 1) * fg]
                if tmp_buf is None:
                    np.matmul(colm, kg, out=out[r0:r1].reshape(rows * Wo, F))
                else:
                    tmp = tmp_buf[:rows * cols * fg].reshape(rows * cols, fg)
                    np.matmul(colm, kg, out=tmp)
                    out[r0:r1, q0:q1, g * fg:(g + 1) * fg] = \
                        tmp.reshape(rows, cols, fg)
            step += 1
            _tick(tick, step / n_steps)


def _conv_1x1(x, kernel, out, geom, tick):
    (H, W, C, kh, kw, cg, F, top, left, sh, sw, dh, dw, Ho, Wo) = geom
    kmat = np.ascontiguousarray(kernel.reshape(C, F))
    chunks = _row_chunks(Ho, Wo * C * _ITEM)
    for i, (r0, r1) in enumerate(chunks):
        src = x[r0 * sh:(r1 - 1) * sh + 1:sh, :(Wo - 1) * sw + 1:sw]
        a = src.reshape((r1 - r0) * Wo, C)  # copies only when strided
        np.matmul(a, kmat, out=out[r0:r1].reshape(-1, F))
        _tick(tick, (i + 1) / len(chunks))


# --------------------------------------------------------------------------
# convolution: Winograd F(2x2, 3x3)
# --------------------------------------------------------------------------

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5],
               [0.0, 0.0, 1.0]])
#: (16, 9): vec(G g G^T) = kron(G, G) @ vec(g), exact in float32
_G16 = np.kron(_G, _G).astype(_F32)


def _winograd_kernel(kernel):
    """U = G g G^T for every (c, f): (3, 3, C, F) -> (16, C, F) float32.

    One small sgemm ``(16, 9) @ (9, C*F)``."""
    C, F = kernel.shape[2:]
    g = np.ascontiguousarray(kernel).reshape(9, C * F)
    return np.matmul(_G16, g).reshape(16, C, F)


def _conv_winograd(x, kernel, out, geom, tick):
    (H, W, C, kh, kw, cg, F, top, left, sh, sw, dh, dw, Ho, Wo) = geom
    th, tw, chunks = _winograd_plan(C, F, Ho, Wo)
    U = _winograd_kernel(kernel)
    nt_max = max(b - a for a, b in chunks)
    Wp = 2 * tw + 2
    slab_buf = np.empty((2 * nt_max + 2) * Wp * C, dtype=_F32)
    rp_buf = np.empty((4, nt_max, Wp, C), dtype=_F32)
    v_buf = np.empty(16 * nt_max * tw * C, dtype=_F32)
    m_buf = np.empty(16 * nt_max * tw * F, dtype=_F32)
    o_buf = np.empty((3, nt_max * tw * F), dtype=_F32)
    odd_w = Wo % 2  # last tile column has one valid output column
    for ci, (t0, t1) in enumerate(chunks):
        nt = t1 - t0
        P = nt * tw
        slab = _input_slab(x, 2 * t0 - top, 2 * nt + 2, -left, Wp, slab_buf)
        # ---- input transform, rows: B^T d
        r = [slab[a:a + 2 * nt:2] for a in range(4)]
        T = rp_buf[:, :nt]
        np.subtract(r[0], r[2], out=T[0])
        np.add(r[1], r[2], out=T[1])
        np.subtract(r[2], r[1], out=T[2])
        np.subtract(r[1], r[3], out=T[3])
        # ---- columns: (B^T d) B, written into V[(4*i + j), tile, c]
        V = v_buf[:16 * P * C].reshape(4, 4, nt, tw, C)
        for i in range(4):
            c = [T[i][:, b:b + 2 * tw:2] for b in range(4)]
            np.subtract(c[0], c[2], out=V[i, 0])
            np.add(c[1], c[2], out=V[i, 1])
            np.subtract(c[2], c[1], out=V[i, 2])
            np.subtract(c[1], c[3], out=V[i, 3])
        # ---- 16 products in one batched sgemm
        M = m_buf[:16 * P * F].reshape(16, P, F)
        np.matmul(V.reshape(16, P, C), U, out=M)
        M = M.reshape(4, 4, P, F)
        # ---- output transform A^T m A
        s0, s1, tmp = (o_buf[k, :P * F].reshape(P, F) for k in range(3))
        o_rows = out[2 * t0:2 * t1]
        for i in range(2):
            if i == 1 and 2 * t0 + 1 >= Ho:
                break
            # row pass for output row i: s_j = (A^T m)_i,j  for j in 0..3 —
            # computed lazily per output column pair to keep temps small.
            def rowpass(j, dst):
                if i == 0:
                    np.add(M[0, j], M[1, j], out=dst)
                    dst += M[2, j]
                else:
                    np.subtract(M[1, j], M[2, j], out=dst)
                    dst -= M[3, j]
                return dst
            n_valid_rows = min(nt, (Ho - 1 - i - 2 * t0) // 2 + 1)
            dst_rows = o_rows[i::2][:n_valid_rows]
            # y_i0 = s0 + s1 + s2 ; y_i1 = s1 - s2 - s3
            rowpass(1, s1)
            rowpass(2, tmp)
            rowpass(0, s0)
            s0 += s1
            s0 += tmp
            np.subtract(s1, tmp, out=s1)
            rowpass(3, tmp)
            s1 -= tmp
            y0 = s0.reshape(nt, tw, F)[:n_valid_rows]
            y1 = s1.reshape(nt, tw, F)[:n_valid_rows]
            np.copyto(dst_rows[:, 0::2], y0)
            np.copyto(dst_rows[:, 1::2], y1[:, :tw - odd_w])
        _tick(tick, (ci + 1) / len(chunks))


# --------------------------------------------------------------------------
# convolution: public entry points
# --------------------------------------------------------------------------

def conv2d(x, kernel, bias=None, strides=(1, 1), pads=((0, 0), (0, 0)),
           dilation=(1, 1), groups=1, tick=None):
    """2-D cross-correlation, Keras layouts: (H, W, C) * (kh, kw, C/g, F)."""
    x = _as_f32(x)
    kernel = _as_f32(kernel)
    geom = _conv_geometry(x.shape, kernel.shape, strides, pads, dilation,
                          groups)
    (H, W, C, kh, kw, cg, F, top, left, sh, sw, dh, dw, Ho, Wo) = geom
    out = np.empty((Ho, Wo, F), dtype=_F32)
    (_, bottom), (_, right) = pads
    if _use_winograd(kh, kw, sh, sw, dh, dw, groups, C, F, Ho, Wo):
        _conv_winograd(x, kernel, out, geom, tick)
    elif (kh == 1 and kw == 1 and top == 0 and left == 0 and groups == 1
          and (Ho - 1) * sh < H and (Wo - 1) * sw < W):
        _conv_1x1(x, kernel, out, geom, tick)
    else:
        _conv_im2col(x, kernel, out, geom, groups, tick)
    if bias is not None:
        out += _as_f32(bias)
    return out


#: Output bytes per chunk of a depthwise convolution.  Smaller than
#: :data:`CHUNK_BYTES`: the work per byte is small, and with ~1 MiB chunks
#: the input slab and output rows stay in L2 and the temporaries are reused
#: heap blocks rather than fresh page-faulting mappings (at 8 MiB chunks
#: MobileNetV2's 112x112x32 layer took 2-10 ms instead of 0.6 ms).
DW_CHUNK_BYTES = 1 << 20


def _dw_plan(H, W, C, kh, kw, M, strides, pads, dilation):
    """Output size, row chunks and whether the flat path applies (see :func:`depthwise_conv2d`)."""
    Ho, Wo = _conv_output_hw(H, W, kh, kw, strides, pads, dilation)
    chunks = _row_chunks(Ho, Wo * C * M * _ITEM, min(CHUNK_BYTES, DW_CHUNK_BYTES))
    flat = (strides[1] == 1 and dilation[1] == 1 and M == 1
            and kh * kw * Wo * C * _ITEM <= CHUNK_BYTES)
    return Ho, Wo, chunks, flat


def depthwise_conv2d_workspace_bytes(in_shape, kernel_shape, strides=(1, 1),
                                     pads=((0, 0), (0, 0)), dilation=(1, 1)):
    """Upper bound on temporary bytes :func:`depthwise_conv2d` allocates."""
    H, W, C = in_shape
    kh, kw, _, M = kernel_shape
    Ho, Wo, chunks, flat = _dw_plan(H, W, C, kh, kw, M, strides, pads, dilation)
    rows = max(b - a for a, b in chunks)
    rows_in = (rows - 1) * strides[0] + dilation[0] * (kh - 1) + 1
    cols_in = (Wo - 1) * strides[1] + dilation[1] * (kw - 1) + 1
    tiled = kh * kw * Wo * C if flat else 0
    return (_ITEM * (rows_in * cols_in * C + tiled + Wo * C * M)
            + _WORKSPACE_SLACK)


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1),
                     pads=((0, 0), (0, 0)), dilation=(1, 1), tick=None):
    """Depthwise convolution; output channel ``c*M + m`` (Keras order).

    Every chunk of output rows is one ``einsum`` over a strided window view of
    the (padded) input slab: one pass that multiplies and accumulates every
    tap, with no per-tap temporaries.  With column stride and dilation 1 and
    ``M == 1`` (MobileNet's case) a tap's inputs for a whole output row are
    one contiguous run of ``Wo*C`` floats, so the window is viewed as
    (rows, kh, kw, Wo*C) against the kernel tiled along the row: the inner
    loop then runs over ``Wo*C`` elements instead of ``C``.
    """
    x = _as_f32(x)
    kernel = _as_f32(kernel)
    H, W, C = x.shape
    kh, kw, kc, M = kernel.shape
    if kc != C:
        raise ValueError(f"depthwise kernel {kernel.shape} vs {C} channels")
    (top, bottom), (left, right) = pads
    sh, sw = strides
    dh, dw = dilation
    Ho, Wo, chunks, flat = _dw_plan(H, W, C, kh, kw, M, strides, pads, dilation)
    out = np.empty((Ho, Wo, C * M), dtype=_F32)
    rows_max = max(b - a for a, b in chunks)
    cols_in = (Wo - 1) * sw + dw * (kw - 1) + 1
    rows_in_max = (rows_max - 1) * sh + dh * (kh - 1) + 1
    slab_buf = np.empty(rows_in_max * cols_in * C, dtype=_F32)
    if flat:
        n = Wo * C
        taps = np.empty((kh, kw, Wo, C), dtype=_F32)
        taps[...] = kernel[:, :, None, :, 0]
        taps = taps.reshape(kh, kw, n)
    for i, (r0, r1) in enumerate(chunks):
        rows = r1 - r0
        rows_in = (rows - 1) * sh + dh * (kh - 1) + 1
        slab = _input_slab(x, r0 * sh - top, rows_in, -left, cols_in,
                           slab_buf)
        s0, s1, s2 = slab.strides
        if flat and s1 == C * s2:
            win = as_strided(slab, shape=(rows, kh, kw, n),
                             strides=(s0 * sh, s0 * dh, s1, s2), writeable=False)
            np.einsum("yabn,abn->yn", win, taps, out=out[r0:r1].reshape(rows, n))
        else:
            win = as_strided(slab, shape=(rows, Wo, kh, kw, C),
                             strides=(s0 * sh, s1 * sw, s0 * dh, s1 * dw, s2),
                             writeable=False)
            np.einsum("yxabc,abcm->yxcm", win, kernel,
                      out=out[r0:r1].reshape(rows, Wo, C, M))
        if bias is not None:
            out[r0:r1] += _as_f32(bias)
        _tick(tick, (i + 1) / len(chunks))
    return out


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------

def _pool_source(x, pool_size, strides, pads, out_hw, fill):
    """Array whose rows/cols start at padded coordinate (-top, -left) and
    cover every window, padding (and ceil-mode overhang) filled with ``fill``.
    A view of ``x`` when no padding is needed at all."""
    H, W, C = x.shape
    kh, kw = pool_size
    sh, sw = strides
    (top, _), (left, _) = pads
    Ho, Wo = out_hw
    need_h = (Ho - 1) * sh + kh
    need_w = (Wo - 1) * sw + kw
    if top == 0 and left == 0 and need_h <= H and need_w <= W:
        return x
    Hn, Wn = max(need_h, top + H), max(need_w, left + W)
    src = np.full((Hn, Wn, C), fill, dtype=_F32)
    src[top:top + H, left:left + W] = x
    return src


def max_pool2d(x, pool_size, strides, pads, out_hw, tick=None):
    """Max pooling; padding and ceil-mode overhang never win."""
    x = _as_f32(x)
    src = _pool_source(x, pool_size, strides, pads, out_hw, -np.inf)
    return _pool_reduce(src, pool_size, strides, out_hw, np.maximum, tick)


def _pool_reduce(src, pool_size, strides, out_hw, combine, tick, scale=None):
    """Fold the kh·kw strided views of ``src`` into the output with ``combine`` (in place), by row chunks;
    ``scale`` (Ho, Wo, 1), if given, multiplies each finished chunk."""
    kh, kw = pool_size
    sh, sw = strides
    Ho, Wo = out_hw
    C = src.shape[2]
    out = np.empty((Ho, Wo, C), dtype=_F32)
    chunks = _row_chunks(Ho, Wo * C * _ITEM * kh * kw)
    for i, (r0, r1) in enumerate(chunks):
        acc = out[r0:r1]
        first = True
        for ky in range(kh):
            for kx in range(kw):
                v = src[r0 * sh + ky:(r1 - 1) * sh + ky + 1:sh,
                        kx:kx + (Wo - 1) * sw + 1:sw]
                if first:
                    np.copyto(acc, v)
                    first = False
                else:
                    combine(acc, v, out=acc)
        if scale is not None:
            acc *= scale[r0:r1]
        _tick(tick, (i + 1) / len(chunks))
    return out


def _window_counts(n_out, s, k, before, n, after, include_pad):
    """Number of window positions per output index that count in the divisor."""
    i = np.arange(n_out)
    start = i * s - before
    stop = start + k
    lo, hi = (-before, n + after) if include_pad else (0, n)
    return np.clip(np.minimum(stop, hi) - np.maximum(start, lo), 0, None)


def avg_pool2d(x, pool_size, strides, pads, out_hw, count_include_pad=True,
               tick=None):
    """Average pooling.  Divisor: positions inside the padded extent when
    ``count_include_pad`` (PyTorch default), else real inputs only (Keras
    "same").  Ceil-mode overhang is never counted."""
    x = _as_f32(x)
    H, W, C = x.shape
    kh, kw = pool_size
    sh, sw = strides
    (top, bottom), (left, right) = pads
    Ho, Wo = out_hw
    src = _pool_source(x, pool_size, strides, pads, out_hw, 0.0)
    ch = _window_counts(Ho, sh, kh, top, H, bottom, count_include_pad)
    cw = _window_counts(Wo, sw, kw, left, W, right, count_include_pad)
    inv = (1.0 / np.outer(ch, cw).astype(np.float64)).astype(_F32)[:, :, None]
    return _pool_reduce(src, pool_size, strides, out_hw, np.add, tick, scale=inv)


def global_avg_pool(x, keepdims=False):
    x = _as_f32(x)
    H, W, C = x.shape
    out = (x.reshape(H * W, C).sum(axis=0, dtype=np.float64)
           / (H * W)).astype(_F32)
    return out.reshape(1, 1, C) if keepdims else out


def global_max_pool(x, keepdims=False):
    x = _as_f32(x)
    H, W, C = x.shape
    out = np.ascontiguousarray(x.max(axis=(0, 1)))
    return out.reshape(1, 1, C) if keepdims else out


# --------------------------------------------------------------------------
# shape utilities
# --------------------------------------------------------------------------

def zero_pad2d(x, pads):
    x = _as_f32(x)
    H, W, C = x.shape
    (top, bottom), (left, right) = pads
    out = np.zeros((H + top + bottom, W + left + right, C), dtype=_F32)
    out[top:top + H, left:left + W] = x
    return out


def flatten(x):
    """1-D in (H, W, C) order (Keras)."""
    return np.ascontiguousarray(_as_f32(x)).reshape(-1)


def dense(x, kernel, bias=None, tick=None):
    """Keras Dense: ``x @ kernel (+ bias)`` on the last axis of any rank."""
    x = _as_f32(x)
    kernel = _as_f32(kernel)
    n_in, units = kernel.shape
    if x.shape[-1] != n_in:
        raise ValueError(f"dense kernel {kernel.shape} vs input {x.shape}")
    lead = x.shape[:-1]
    a = x.reshape(-1, n_in)
    rows = a.shape[0]
    out = np.empty((rows, units), dtype=_F32)
    if rows > 1:
        chunks = _row_chunks(rows, max(n_in, units) * _ITEM)
        for i, (r0, r1) in enumerate(chunks):
            np.matmul(a[r0:r1], kernel, out=out[r0:r1])
            _tick(tick, (i + 1) / len(chunks))
    else:
        # one row (e.g. after Flatten): split the (possibly huge) kernel by
        # input rows -- contiguous slices, so each gemv streams memory
        # linearly -- and accumulate.  (Splitting by output columns makes
        # strided gemvs that are ~5x slower.)
        per = max(1, (4 * CHUNK_BYTES) // max(1, units * _ITEM))
        n = -(-n_in // per)
        for i in range(n):
            i0, i1 = i * per, min(n_in, (i + 1) * per)
            if i == 0:
                np.matmul(a[:, i0:i1], kernel[i0:i1], out=out)
            else:
                out += a[:, i0:i1] @ kernel[i0:i1]
            _tick(tick, (i + 1) / n)
    if bias is not None:
        out += _as_f32(bias)
    return out.reshape(lead + (units,))


# --------------------------------------------------------------------------
# element-wise and normalisation
# --------------------------------------------------------------------------

_SQRT1_2 = 1.0 / math.sqrt(2.0)
# Numerical Recipes erfcc Chebyshev coefficients (fractional error < 1.2e-7)
_ERFC_COEF = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
              0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)


def _erfc(z):
    """erfc for float64 arrays, small *relative* error everywhere."""
    az = np.abs(z)
    t = 1.0 / (1.0 + 0.5 * az)
    poly = np.full_like(t, _ERFC_COEF[-1])
    for c in _ERFC_COEF[-2::-1]:
        poly *= t
        poly += c
    ans = t * np.exp(-az * az + poly)
    return np.where(z >= 0, ans, 2.0 - ans)


def _sigmoid(x):
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    out = np.empty_like(e)
    pos = x >= 0
    np.divide(1.0, 1.0 + e, out=out, where=pos)
    np.divide(e, 1.0 + e, out=out, where=~pos)
    return out


def _gelu(x):
    x64 = x.astype(np.float64)
    return (0.5 * x64 * _erfc(-x64 * _SQRT1_2)).astype(_F32)


def _softmax(x):
    if x.ndim == 0:
        raise ValueError("softmax needs at least one axis")
    z = x - x.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _elu(x):
    out = np.expm1(np.minimum(x, 0))
    return np.where(x > 0, x, out)


ACTIVATIONS = {
    "linear": lambda x: x.copy(),
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x >= 0, x, x * _F32(0.2)),
    "elu": _elu,
    "gelu": _gelu,
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(_F32(0), x),
    "softmax": _softmax,
}


def activation(x, name):
    """Apply a Keras activation by name (float32, no overflow warnings)."""
    try:
        fn = ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}") from None
    x = _as_f32(x)
    return np.ascontiguousarray(fn(x), dtype=_F32)


def batch_norm(x, gamma, beta, moving_mean, moving_variance, epsilon):
    """Inference batch normalisation over the last axis."""
    x = _as_f32(x)
    C = x.shape[-1]
    var = np.asarray(moving_variance, dtype=np.float64)
    scale = 1.0 / np.sqrt(var + float(epsilon))
    if gamma is not None:
        scale = scale * np.asarray(gamma, dtype=np.float64)
    out = x - np.asarray(moving_mean, dtype=_F32).reshape(C)
    out *= scale.astype(_F32)
    if beta is not None:
        out += np.asarray(beta, dtype=_F32)
    return out


def lrn(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """PyTorch LocalResponseNorm across channels (last axis)."""
    x = _as_f32(x)
    C = x.shape[-1]
    lo, hi = size // 2, (size - 1) // 2
    sq = np.zeros(x.shape[:-1] + (C + lo + hi,), dtype=_F32)
    np.square(x, out=sq[..., lo:lo + C])
    acc = np.zeros_like(x)
    for off in range(size):
        acc += sq[..., off:off + C]
    acc *= _F32(alpha / size)
    acc += _F32(k)
    np.power(acc, _F32(beta), out=acc)
    return np.divide(x, acc)


def dropout(x):
    """Identity at inference."""
    return x


# --------------------------------------------------------------------------
# graph-shaped models: merges (issue 14)
# --------------------------------------------------------------------------
#
# Merges follow NumPy broadcasting, which is Keras' rule for one image: Keras
# expands a lower-rank input after the batch axis, i.e. prepends length-1
# axes, exactly as NumPy does (squeeze-and-excitation's (1, 1, C) x (H, W, C)).

def _merge_inputs(xs, what, at_least=1):
    xs = [_as_f32(x) for x in xs]
    if len(xs) < at_least:
        raise ValueError(f"{what} needs at least {at_least} inputs, got {len(xs)}")
    try:
        shape = np.broadcast_shapes(*(x.shape for x in xs))
    except ValueError:
        shapes = " and ".join(str(tuple(x.shape)) for x in xs)
        raise ValueError(f"{what}: input shapes {shapes} do not broadcast") from None
    return xs, shape


def _fold(xs, what, ufunc):
    """``ufunc`` folded left over ``xs`` into one preallocated broadcast-shaped output."""
    xs, shape = _merge_inputs(xs, what)
    out = np.empty(shape, dtype=_F32)
    if len(xs) == 1:
        np.copyto(out, xs[0])
        return out
    ufunc(xs[0], xs[1], out=out)
    for x in xs[2:]:
        ufunc(out, x, out=out)
    return out


def add(xs):
    """Keras ``Add``: the element-wise sum of the arrays in ``xs`` (broadcast)."""
    return _fold(xs, "add", np.add)


def subtract(a, b):
    """Keras ``Subtract``: ``a - b`` (broadcast)."""
    return _fold([a, b], "subtract", np.subtract)


def divide(a, b):
    """``a / b`` (broadcast): Keras' recorded ``ops.divide`` / ``x / c``, ONNX ``Div``."""
    return _fold([a, b], "divide", np.divide)


def multiply(xs):
    """Keras ``Multiply``: the element-wise product (broadcast)."""
    return _fold(xs, "multiply", np.multiply)


def average(xs):
    """Keras ``Average``: the sum, then divided by the number of inputs."""
    out = _fold(xs, "average", np.add)
    out /= _F32(len(xs))
    return out


def maximum(xs):
    """Keras ``Maximum`` (broadcast)."""
    return _fold(xs, "maximum", np.maximum)


def minimum(xs):
    """Keras ``Minimum`` (broadcast)."""
    return _fold(xs, "minimum", np.minimum)


def concatenate(xs, axis=-1, out=None):
    """Keras ``Concatenate`` along ``axis`` of the per-image arrays.

    ``axis`` counts the axes of one image (``-1`` = channels; Keras' positive
    axes, which count the batch, are one more).  Each input is copied once,
    straight into its slice of one preallocated output; ``out`` (C-contiguous
    float32 of the result's shape) may be supplied by the caller.
    """
    xs = [np.asarray(x) for x in xs]
    if not xs:
        raise ValueError("concatenate needs at least 1 input, got 0")
    nd = xs[0].ndim
    if any(x.ndim != nd for x in xs) or not -nd <= axis < nd:
        shapes = ", ".join(str(tuple(x.shape)) for x in xs)
        raise ValueError(f"concatenate on axis {axis}: inputs {shapes} have different ranks "
                         f"or no such axis")
    ax = axis % nd
    rest = [tuple(s for i, s in enumerate(x.shape) if i != ax) for x in xs]
    if any(r != rest[0] for r in rest):
        shapes = " and ".join(str(tuple(x.shape)) for x in xs)
        raise ValueError(f"concatenate on axis {axis}: shapes {shapes} differ off that axis")
    shape = list(xs[0].shape)
    shape[ax] = sum(x.shape[ax] for x in xs)
    shape = tuple(shape)
    if out is None:
        out = np.empty(shape, dtype=_F32)
    elif out.shape != shape or out.dtype != _F32 or not out.flags.c_contiguous:
        raise ValueError(f"concatenate: out must be C-contiguous float32 {shape}")
    lead = (slice(None),) * ax
    off = 0
    for x in xs:
        n = x.shape[ax]
        out[lead + (slice(off, off + n),)] = x
        off += n
    return out


def custom_scale(a, b, scale):
    """InceptionResNetV2's ``CustomScaleLayer``: ``a + b * scale``."""
    (a, b), shape = _merge_inputs([a, b], "custom scale")
    out = np.empty(shape, dtype=_F32)
    np.multiply(b, _F32(scale), out=out)
    out += a
    return out


# --------------------------------------------------------------------------
# graph-shaped models: convolutions (issue 14)
# --------------------------------------------------------------------------

def _scaled_tick(tick, lo, hi):
    if tick is None:
        return None
    return lambda f: tick(lo + (hi - lo) * f)


def separable_conv2d_workspace_bytes(in_shape, depthwise_shape, pointwise_shape,
                                     strides=(1, 1), pads=((0, 0), (0, 0)),
                                     dilation=(1, 1)):
    """Upper bound on temporary bytes :func:`separable_conv2d` allocates beyond its output."""
    H, W, C = in_shape
    kh, kw, _, M = depthwise_shape
    Ho, Wo = _conv_output_hw(H, W, kh, kw, strides, pads, dilation)
    mid = _ITEM * Ho * Wo * C * M
    return mid + max(
        depthwise_conv2d_workspace_bytes(in_shape, depthwise_shape, strides, pads, dilation),
        conv2d_workspace_bytes((Ho, Wo, C * M), pointwise_shape))


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, bias=None, strides=(1, 1),
                     pads=((0, 0), (0, 0)), dilation=(1, 1), tick=None):
    """Keras ``SeparableConv2D``: a depthwise convolution (``depthwise_kernel``
    (kh, kw, C, M), with ``strides``/``pads``/``dilation``) then a 1x1
    convolution (``pointwise_kernel`` (1, 1, C*M, F)), then ``bias`` (F,)."""
    x = _as_f32(x)
    dk = _as_f32(depthwise_kernel)
    pk = _as_f32(pointwise_kernel)
    C, M = dk.shape[2:]
    if pk.ndim != 4 or pk.shape[:3] != (1, 1, C * M):
        raise ValueError(f"pointwise kernel {pk.shape} does not follow depthwise kernel {dk.shape}")
    H, W = x.shape[:2]
    Ho, Wo = _conv_output_hw(H, W, dk.shape[0], dk.shape[1], strides, pads, dilation)
    dw_macs = dk.shape[0] * dk.shape[1] * C * M
    split = dw_macs / (dw_macs + C * M * pk.shape[3])
    mid = depthwise_conv2d(x, dk, None, strides, pads, dilation, _scaled_tick(tick, 0.0, split))
    return conv2d(mid, pk, bias, tick=_scaled_tick(tick, split, 1.0))


def _transpose_geometry(in_shape, kernel_shape, strides, dilation, crops, out_hw):
    """Full transposed-convolution lengths and the resolved output size."""
    H, W, C = in_shape
    kh, kw, F, cin = kernel_shape
    if cin != C:
        raise ValueError(f"transposed-convolution kernel {tuple(kernel_shape)} "
                         f"(kh, kw, filters, in_channels) vs {C} input channels")
    full = ((H - 1) * strides[0] + dilation[0] * (kh - 1) + 1,
            (W - 1) * strides[1] + dilation[1] * (kw - 1) + 1)
    outs = []
    for axis, (n_full, (start, end)) in enumerate(zip(full, crops)):
        if start < 0:
            raise ValueError(f"transposed-convolution crop {start} at the start is negative")
        if out_hw is None:
            n_out = n_full - start - end
        else:
            n_out = out_hw[axis]
            if max(end, 0) != max(n_full - start - n_out, 0):
                raise ValueError(
                    f"transposed-convolution crops {tuple(crops)} disagree with output size "
                    f"{tuple(out_hw)} (full length {n_full})")
        if n_out <= 0:
            raise ValueError(f"transposed-convolution output would be empty ({n_out})")
        outs.append(n_out)
    return full, tuple(outs)


def _tap_range(n_in, s, offset, n_out):
    """Input indices ``i`` in ``[0, n_in)`` with ``0 <= i*s + offset < n_out``, as (lo, hi)."""
    lo = max(0, -(offset // s)) if offset < 0 else 0
    hi = min(n_in, (n_out - 1 - offset) // s + 1) if n_out - 1 - offset >= 0 else 0
    return lo, max(lo, hi)


def conv2d_transpose_workspace_bytes(in_shape, kernel_shape, strides=(1, 1), dilation=(1, 1),
                                     crops=((0, 0), (0, 0)), out_hw=None):
    """Upper bound on temporary bytes :func:`conv2d_transpose` allocates beyond its output."""
    H, W, C = in_shape
    kh, kw, F, _ = kernel_shape
    _transpose_geometry(in_shape, kernel_shape, strides, dilation, crops, out_hw)
    chunks = _row_chunks(H, W * kh * kw * F * _ITEM)
    rows = max(b - a for a, b in chunks)
    return _ITEM * (rows * W * kh * kw * F + C * kh * kw * F + rows * W * C) + _WORKSPACE_SLACK


def conv2d_transpose(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1),
                     crops=((0, 0), (0, 0)), out_hw=None, tick=None):
    """Keras ``Conv2DTranspose``: ``kernel`` is (kh, kw, filters, in_channels).

    The full transposed convolution has ``(n-1)*s + d*(k-1) + 1`` cells per
    axis (input cell ``i`` times tap ``t`` lands on ``i*s + t*d``).  The
    result is that with ``crops[a][0]`` cells removed at the start of axis
    ``a`` and the end cut, or zero-extended, to ``out_hw[a]``; ``crops[a][1]``
    is the cut at the end (negative for an extension, or 0 with an extension)
    and must agree with ``out_hw``.  ``out_hw=None`` means full minus both
    crops.  ``bias`` is added to every output cell.
    """
    x = _as_f32(x)
    kernel = _as_f32(kernel)
    H, W, C = x.shape
    kh, kw, F, _ = kernel.shape
    _, (Ho, Wo) = _transpose_geometry(x.shape, kernel.shape, strides, dilation, crops, out_hw)
    sh, sw = strides
    dh, dw = dilation
    (top, _), (left, _) = crops
    out = np.zeros((Ho, Wo, F), dtype=_F32)
    # (C, kh*kw*F): one sgemm per chunk of input rows gives every tap's contribution
    kmat = np.ascontiguousarray(kernel.transpose(3, 0, 1, 2)).reshape(C, kh * kw * F)
    chunks = _row_chunks(H, W * kh * kw * F * _ITEM)
    rows_max = max(b - a for a, b in chunks)
    col_buf = np.empty(rows_max * W * kh * kw * F, dtype=_F32)
    col_ranges = [_tap_range(W, sw, kx * dw - left, Wo) for kx in range(kw)]
    for i, (r0, r1) in enumerate(chunks):
        rows = r1 - r0
        cols = col_buf[:rows * W * kh * kw * F].reshape(rows * W, kh * kw * F)
        np.matmul(x[r0:r1].reshape(rows * W, C), kmat, out=cols)
        cols = cols.reshape(rows, W, kh, kw, F)
        for ky in range(kh):
            off_y = ky * dh - top
            lo, hi = _tap_range(H, sh, off_y, Ho)
            lo, hi = max(lo, r0), min(hi, r1)
            if hi <= lo:
                continue
            for kx in range(kw):
                c_lo, c_hi = col_ranges[kx]
                if c_hi <= c_lo:
                    continue
                o_y, o_x = lo * sh + off_y, c_lo * sw + kx * dw - left
                dst = out[o_y:o_y + (hi - lo - 1) * sh + 1:sh,
                          o_x:o_x + (c_hi - c_lo - 1) * sw + 1:sw]
                dst += cols[lo - r0:hi - r0, c_lo:c_hi, ky, kx]
        _tick(tick, (i + 1) / len(chunks))
    if bias is not None:
        out += _as_f32(bias)
    return out


def upsampling2d(x, size, interpolation="nearest"):
    """Keras 3 ``UpSampling2D``: ``size`` = (rows, cols) integer factors.

    ``"nearest"`` repeats every cell; ``"bilinear"`` is Keras' image resize
    to (H*rows, W*cols): half-pixel centres (source coordinate
    ``(o + 0.5) / factor - 0.5``, clamped to the edge), no antialiasing.
    """
    x = _as_f32(x)
    H, W, C = x.shape
    fh, fw = (int(v) for v in size)
    if fh < 1 or fw < 1:
        raise ValueError(f"upsampling size {tuple(size)} must be positive")
    if interpolation == "nearest":
        out = np.empty((H, fh, W, fw, C), dtype=_F32)
        out[...] = x[:, None, :, None, :]
        return out.reshape(H * fh, W * fw, C)
    if interpolation != "bilinear":
        raise ValueError(f"upsampling interpolation {interpolation!r} is not 'nearest' or 'bilinear'")
    i0, i1, wy = _bilinear_taps(H, fh)
    j0, j1, wx = _bilinear_taps(W, fw)
    # rows first, then columns: out = (1-a) * v[lo] + a * v[hi] along each axis
    rows = np.multiply(x[i0], (1 - wy)[:, None, None])
    rows += x[i1] * wy[:, None, None]
    out = np.empty((H * fh, W * fw, C), dtype=_F32)
    np.multiply(rows[:, j0], (1 - wx)[None, :, None], out=out)
    out += rows[:, j1] * wx[None, :, None]
    return out


def _bilinear_taps(n, factor):
    """For each of ``n*factor`` outputs: lower index, upper index, upper weight (float32)."""
    src = (np.arange(n * factor, dtype=np.float64) + 0.5) / factor - 0.5
    src = np.maximum(src, 0.0)
    lo = np.floor(src).astype(np.intp)
    frac = (src - lo).astype(_F32)
    lo = np.minimum(lo, n - 1)
    return lo, np.minimum(lo + 1, n - 1), frac


# --------------------------------------------------------------------------
# graph-shaped models: shape, scaling and normalisation layers (issue 14)
# --------------------------------------------------------------------------

def cropping2d(x, crops):
    """Keras ``Cropping2D``: drop ``crops = ((top, bottom), (left, right))`` cells."""
    x = _as_f32(x)
    H, W = x.shape[:2]
    (t, b), (left, right) = crops
    if min(t, b, left, right) < 0 or t + b >= H or left + right >= W:
        raise ValueError(f"cropping {tuple(crops)} leaves nothing of {H}x{W}")
    return np.ascontiguousarray(x[t:H - b, left:W - right])


def reshape(x, target_shape):
    """Keras ``Reshape`` (C order, one ``-1`` allowed) of one image."""
    x = np.ascontiguousarray(_as_f32(x))
    target = tuple(int(v) for v in target_shape)
    try:
        return x.reshape(target)
    except ValueError:
        raise ValueError(f"cannot reshape {x.shape} ({x.size} values) to {target}") from None


def _channel_vector(v):
    """A weight given per channel (1-D) or broadcastable, leading 1-axes of a batch dropped."""
    v = np.asarray(v, dtype=_F32)
    while v.ndim > 3 and v.shape[0] == 1:
        v = v[0]
    return v


def rescaling(x, scale, offset=0.0):
    """Keras ``Rescaling``: ``x * scale + offset`` (each a number or per channel)."""
    out = np.multiply(_as_f32(x), _channel_vector(scale), dtype=_F32)
    out += _channel_vector(offset)
    return np.ascontiguousarray(out)


def normalization(x, mean, variance, invert=False):
    """Keras ``Normalization``: ``(x - mean) / max(sqrt(variance), 1e-7)``;
    ``invert``: ``mean + x * max(sqrt(variance), 1e-7)``.  ``mean`` and
    ``variance`` broadcast against ``x`` (1-D: per channel)."""
    x = _as_f32(x)
    mean = _channel_vector(mean)
    std = np.maximum(np.sqrt(_channel_vector(variance)), _F32(1e-7))
    if invert:
        out = np.multiply(x, std)
        out += mean
    else:
        out = np.subtract(x, mean)
        out /= std
    return np.ascontiguousarray(out, dtype=_F32)


def _norm_axes(axis, nd):
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if not axes or any(not -nd <= a < nd for a in axes):
        raise ValueError(f"layer normalisation axis {axis!r} is not an axis of a rank-{nd} input")
    return tuple(sorted({int(a) % nd for a in axes}))


def layer_norm(x, gamma=None, beta=None, epsilon=1e-3, axis=-1):
    """Keras ``LayerNormalization``: ``(x - mean) / sqrt(var + epsilon) * gamma + beta``,
    mean and (biased) variance over ``axis`` (an int or a tuple of axes of
    one image); ``gamma``/``beta`` have the sizes of those axes."""
    x = _as_f32(x)
    axes = _norm_axes(axis, x.ndim)
    bshape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
    mean = x.mean(axis=axes, keepdims=True, dtype=_F32)
    out = x - mean
    var = np.square(out).mean(axis=axes, keepdims=True, dtype=_F32)
    var += _F32(epsilon)
    inv = 1.0 / np.sqrt(var)
    out *= inv
    if gamma is not None:
        out *= np.asarray(gamma, dtype=_F32).reshape(bshape)
    if beta is not None:
        out += np.asarray(beta, dtype=_F32).reshape(bshape)
    return out


def layer_scale(x, gamma):
    """ConvNeXt's ``LayerScale``: ``x * gamma`` (gamma per channel)."""
    return np.ascontiguousarray(np.multiply(_as_f32(x), _channel_vector(gamma), dtype=_F32))


def relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras ``ReLU`` layer (``keras.activations.relu``): ``max_value`` for
    ``x >= max_value``, ``x`` for ``threshold < x < max_value``,
    ``negative_slope * (x - threshold)`` otherwise; computed in Keras' own
    steps (threshold, clip to [0, max_value], subtract the negative part)."""
    x = _as_f32(x)
    slope, thr = _F32(negative_slope), _F32(threshold)
    if slope != 0 and max_value is None and thr == 0:
        return np.ascontiguousarray(np.where(x >= 0, x, x * slope), dtype=_F32)
    out = np.where(x > thr, x, _F32(0)) if thr != 0 else np.maximum(x, _F32(0))
    if max_value is not None:
        np.clip(out, _F32(0), _F32(max_value), out=out)
    if slope != 0:
        neg = np.maximum(thr - x, _F32(0)) if thr != 0 else np.maximum(-x, _F32(0))
        out -= slope * neg
    return np.ascontiguousarray(out, dtype=_F32)


def leaky_relu(x, negative_slope=0.3):
    """Keras ``LeakyReLU`` layer (default slope 0.3): ``x`` if ``x >= 0`` else ``slope * x``."""
    x = _as_f32(x)
    return np.ascontiguousarray(np.where(x >= 0, x, x * _F32(negative_slope)), dtype=_F32)


def _hard_sigmoid(x):
    """Keras 3: ``relu6(x + 3) / 6``."""
    out = np.add(x, _F32(3))
    np.clip(out, _F32(0), _F32(6), out=out)
    out /= _F32(6)
    return out


def _hard_silu(x):
    return x * _hard_sigmoid(x)


ACTIVATIONS.update({
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": _hard_silu,
    "hard_swish": _hard_silu,
})

__all__ += [
    "add", "subtract", "divide", "multiply", "average", "maximum", "minimum", "concatenate",
    "custom_scale", "separable_conv2d", "separable_conv2d_workspace_bytes",
    "conv2d_transpose", "conv2d_transpose_workspace_bytes", "upsampling2d",
    "cropping2d", "reshape", "rescaling", "normalization", "layer_norm",
    "layer_scale", "relu", "leaky_relu",
]
