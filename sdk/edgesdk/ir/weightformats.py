"""Every array a layer's weights are stored as in flash: the encoders (and their decoders, for the tests).

Pure NumPy, one module for the kernel-selection passes (which encode the candidates and store the chosen
encoding in the node, :mod:`edgesdk.compiler.weight_encoding`), the reference and the backends (which write what the node
carries). Each format stores the *same* int8 weights as the dense tensor, so a kernel reading it computes the
dense kernel's integer result exactly; :func:`sparse_decode`, :func:`codebook_decode` and :func:`pattern_decode`
invert the encoders and are used by the tests.

Formats (after Han et al., "Deep Compression", ICLR 2016, Niu et al., "PatDNN", ASPLOS 2020, and Li et al.,
"Ternary Weight Networks", 2016):

- *bit-planes*: ternary {-a, 0, b} / binary {-a, b} rows (per output channel) as one or two planes of bits
  packed LSB first, 32 per ``uint32`` word, every row from a word boundary (:func:`weight_planes`), or as codes
  (base 3 / one bit a weight) for the DSP multiply-accumulate (:func:`code_rows`, :func:`interleave_rows4`).
- *sparse*: per row, the count of entries (uint8 when every row has fewer than 256, else int16) and per entry a column delta (the first from column 0)
  with either its int8 value (``code_bits == 0``: one byte delta + one byte value) or a code into the row's
  (shared) codebook packed into the same byte (``delta << code_bits | code``). A gap longer than the delta field is
  bridged by filler entries carrying the weight 0.
- *codebook*: tables of ``2**bits`` int8 values shared by the output channels whose values fit one (one
  byte per channel names its table) and the codes of each channel's weights packed LSB first from a byte
  boundary (bits 1, 2 or 4).
- *pattern*: 3x3 kernels whose nonzero taps lie inside one of a few 4-tap patterns; per output channel and
  pattern the list of input channels (connectivity: a kernel not listed is all zero), 4 int8 values each.
- *orders of the per-target kernels*: int8 FC rows interleaved four at a time (:func:`fc_weights_dsp`) or column by
  column in blocks of 16, 8 and 4 rows (the scalar kernels, :func:`fc_weights_scalar`), int8 weights
  pre-extended to int16 in the FC body's blocks (:func:`fc_weights_w16`) or the convolution's segments
  (:func:`weights_int16`). (Winograd's transformed weights are in :mod:`edgesdk.numerics.winograd`, beside the transforms.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CODE_BITS = (1, 2, 4)


# ---------------------------------------------------------------------------------------------------------------
# Bit-planes (ternary / binary weights of an int8 layer) and their codes
# ---------------------------------------------------------------------------------------------------------------

WORD = 32


def words_for(bits: int) -> int:
    """Words of 32 bits needed for a row of ``bits`` bits."""
    return (int(bits) + WORD - 1) // WORD


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a boolean array (..., K) into uint32 words (..., ceil(K/32)), LSB first, zero tail."""
    b = np.asarray(bits, dtype=bool)
    k = b.shape[-1]
    n = words_for(k)
    padded = np.zeros((*b.shape[:-1], n * WORD), dtype=np.uint64)
    padded[..., :k] = b
    weights = (np.uint64(1) << np.arange(WORD, dtype=np.uint64)).astype(np.uint64)
    words = (padded.reshape(*b.shape[:-1], n, WORD) * weights).sum(axis=-1)
    return words.astype(np.uint32)


def unpack_bits(words: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint32 words (..., n) -> booleans (..., k)."""
    w = np.asarray(words, dtype=np.uint32)
    shifts = np.arange(WORD, dtype=np.uint32)
    bits = ((w[..., None] >> shifts) & np.uint32(1)).astype(bool)
    return bits.reshape(*w.shape[:-1], -1)[..., :k]


@dataclass
class WeightPlanes:
    """Ternary or binary structure of an int8 weight matrix (rows = output channels)."""

    kind: str  # "ternary" or "binary"
    rows: int
    row_bits: int  # weights per row (K)
    pos: np.ndarray  # uint32 (rows, words): bit set where w == +b
    neg: np.ndarray | None  # uint32 (rows, words): bit set where w == -a (ternary only)
    wpos: np.ndarray  # int64 (rows,): b per row
    wneg: np.ndarray  # int64 (rows,): a per row
    zeros: int  # zero weights (ternary)

    @property
    def words(self) -> int:
        return words_for(self.row_bits)

    @property
    def symmetric(self) -> int | None:
        """The common magnitude when every row has a == b == v (then no per-row values are stored)."""
        v = int(self.wpos[0])
        if np.all(self.wpos == v) and np.all(self.wneg == v):
            return v
        return None

    @property
    def plane_bytes(self) -> int:
        planes = 1 if self.neg is None else 2
        return planes * self.rows * self.words * 4

    @property
    def stored_bytes(self) -> int:
        """Planes plus the per-row magnitudes (int16 each) when they are not one common value."""
        return self.plane_bytes + (0 if self.symmetric is not None else 2 * 2 * self.rows)


def weight_planes(w: np.ndarray, allow_binary: bool = True) -> WeightPlanes | None:
    """Recognize ternary {-a, 0, b} or binary {-a, b} rows (a, b > 0, per row) in an int8 matrix (rows, K).

    Binary is chosen when no row holds a zero (and ``allow_binary``); an all-zero row is ternary with a = b = 127.
    Returns None when some row has other values.
    """
    w = np.asarray(w).astype(np.int64)
    rows = w.reshape(w.shape[0], -1)
    n, k = rows.shape
    wpos = np.full(n, 127, dtype=np.int64)
    wneg = np.full(n, 127, dtype=np.int64)
    for r in range(n):
        vals = np.unique(rows[r])
        posv = vals[vals > 0]
        negv = vals[vals < 0]
        if len(posv) > 1 or len(negv) > 1:
            return None
        if len(posv):
            wpos[r] = int(posv[0])
        if len(negv):
            wneg[r] = int(-negv[0])
    zeros = int(np.sum(rows == 0))
    binary = allow_binary and zeros == 0
    pos = pack_bits(rows > 0)
    neg = None if binary else pack_bits(rows < 0)
    return WeightPlanes(
        kind="binary" if binary else "ternary",
        rows=n,
        row_bits=k,
        pos=pos,
        neg=neg,
        wpos=wpos,
        wneg=wneg,
        zeros=zeros,
    )


def code_rows(planes: WeightPlanes) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows as codes for ``ed_fc_codes.c`` (uint8, rows x bytes) and each row's one magnitude (int64), or None
    when a row holds both signs with different magnitudes. Ternary: four weights a byte in base 3,
    ``sum((t_i + 1) * 3**i)`` (0..80); binary: 1 bit a weight (1 = +1), eight a byte, least significant first;
    rows padded to whole bytes (with zero weights)."""
    k = planes.row_bits
    pos = unpack_bits(planes.pos, k).astype(np.uint8)
    neg = (1 - pos) if planes.neg is None else unpack_bits(planes.neg, k).astype(np.uint8)
    has_pos, has_neg = pos.any(axis=1), neg.any(axis=1)
    if np.any(has_pos & has_neg & (planes.wpos != planes.wneg)):
        return None
    mags = np.where(has_pos, planes.wpos, planes.wneg).astype(np.int64)
    if planes.neg is None:
        return np.packbits(pos, axis=1, bitorder="little"), mags
    digits = np.pad(1 + pos.astype(np.int64) - neg, ((0, 0), (0, -k % 4)), constant_values=1)
    packed = digits.reshape(planes.rows, -1, 4) @ np.array([1, 3, 9, 27])
    return packed.astype(np.uint8), mags


def interleave_rows4(codes: np.ndarray, binary: bool) -> np.ndarray:
    """Code rows (rows x bytes) as ``ed_fc_codes.c`` reads them, flat and of the same length: blocks of four rows,
    per group of four inputs the ternary rows' bytes ([r0][r1][r2][r3]) or the binary rows' nibbles in two bytes
    (r0 | r1 << 4, r2 | r3 << 4); the rows % 4 last rows row-major."""
    rows = codes.shape[0] - codes.shape[0] % 4
    block = codes[:rows].reshape(rows // 4, 4, codes.shape[1])
    if binary:  # nibbles: (blocks, 4 rows, groups)
        block = np.stack([block & 15, block >> 4], axis=-1).reshape(rows // 4, 4, 2 * codes.shape[1])
        block = block[:, 0::2] | block[:, 1::2] << 4  # (blocks, 2 row pairs, groups)
    return np.concatenate([block.transpose(0, 2, 1).reshape(-1), codes[rows:].reshape(-1)]).astype(np.uint8)


def bits_for(n_values: int) -> int | None:
    """The packed code width (1, 2 or 4 bits) for ``n_values`` distinct values, None if more than 16."""
    for b in CODE_BITS:
        if n_values <= (1 << b):
            return b
    return None


# ---------------------------------------------------------------------------------------------------------------
# Codebook
# ---------------------------------------------------------------------------------------------------------------


def group_codebooks(row_sets: list[set[int]], size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows share codebooks: (tables (groups, size) int64 sorted and 0-padded, group of each row), or None when
    a row has more than ``size`` values or more than 256 codebooks would be needed.

    With per-channel int8 scales, k shared centroids become a different value set in each output channel, but
    channels with the same scale (the same largest centroid) get the same set; greedy first-fit merges rows
    whose union still fits, largest sets first.
    """
    groups: list[set[int]] = []
    row_group = np.zeros(len(row_sets), np.int64)
    for r in sorted(range(len(row_sets)), key=lambda i: (-len(row_sets[i]), sorted(row_sets[i]))):
        values = row_sets[r]
        if len(values) > size:
            return None
        for g, members in enumerate(groups):
            if len(members | values) <= size:
                members |= values
                row_group[r] = g
                break
        else:
            groups.append(set(values))
            row_group[r] = len(groups) - 1
    if len(groups) > 256:
        return None
    tables = np.zeros((max(1, len(groups)), size), np.int64)
    for g, members in enumerate(groups):
        tables[g, : len(members)] = sorted(members)
    return tables, row_group


@dataclass
class Codebook:
    """Shared codebooks: channel c's code k is the int8 value ``table[row_group[c], k]``."""

    bits: int
    table: np.ndarray  # (groups, 2**bits) int8
    codes: np.ndarray  # (channels, per_channel) int codes
    packed: np.ndarray  # (channels, row_bytes) uint8
    row_group: np.ndarray  # (channels,) the table each channel reads

    @property
    def row_bytes(self) -> int:
        return int(self.packed.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.table.size + self.packed.size + self.row_group.size)


def channel_values(w: np.ndarray) -> list[np.ndarray]:
    """The sorted distinct int8 values of each output channel (rows of ``w`` reshaped to (channels, -1))."""
    rows = np.asarray(w).reshape(w.shape[0], -1)
    return [np.unique(r) for r in rows]


def max_distinct(w: np.ndarray) -> int:
    """The largest number of distinct values in one output channel."""
    return max(len(v) for v in channel_values(w))


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack each row of ``codes`` (values < 2**bits) LSB first into bytes, every row from a byte boundary."""
    codes = np.asarray(codes, dtype=np.uint32)
    per = 8 // bits
    n = codes.shape[1]
    row_bytes = max(1, -(-n // per))
    padded = np.zeros((codes.shape[0], row_bytes * per), np.uint32)
    padded[:, :n] = codes
    parts = padded.reshape(codes.shape[0], row_bytes, per)
    shifts = (np.arange(per, dtype=np.uint32) * bits)[None, None, :]
    return np.bitwise_or.reduce(parts << shifts, axis=2).astype(np.uint8)


def unpack_codes(packed: np.ndarray, bits: int, n: int) -> np.ndarray:
    per = 8 // bits
    shifts = (np.arange(per, dtype=np.uint32) * bits)[None, None, :]
    parts = (packed.astype(np.uint32)[:, :, None] >> shifts) & ((1 << bits) - 1)
    return parts.reshape(packed.shape[0], -1)[:, :n].astype(np.int64)


def _lookup(table: np.ndarray) -> dict[int, int]:
    """Value -> code in a sorted, 0-padded table (the first position of each value)."""
    out: dict[int, int] = {}
    for k, v in enumerate(table.tolist()):
        out.setdefault(int(v), k)
    return out


def codebook_encode(w: np.ndarray, bits: int | None = None) -> Codebook | None:
    """Codebook storage of int8 weights ``w`` (channels first), or None if a channel has > 16 values."""
    values = channel_values(w)
    need = bits_for(max(len(v) for v in values))
    if need is None:
        return None
    bits = max(bits or need, need)
    grouped = group_codebooks([{int(x) for x in v} for v in values], 1 << bits)
    if grouped is None:
        return None
    tables, row_group = grouped
    rows = np.asarray(w).reshape(w.shape[0], -1).astype(np.int64)
    codes = np.zeros(rows.shape, np.int64)
    lookups = [_lookup(t) for t in tables]
    for c in range(rows.shape[0]):
        lk = lookups[int(row_group[c])]
        codes[c] = [lk[int(v)] for v in rows[c].tolist()]
    return Codebook(bits, tables.astype(np.int8), codes, pack_codes(codes, bits), row_group)


def codebook_decode(cb: Codebook, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape[1:], dtype=np.int64))
    codes = unpack_codes(cb.packed, cb.bits, n)
    tables = cb.table.astype(np.int64)[cb.row_group]
    return np.take_along_axis(tables, codes, axis=1).reshape(shape).astype(np.int8)


# ---------------------------------------------------------------------------------------------------------------
# Sparse
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Sparse:
    """Relative-index sparse rows; ``entries`` are deltas (code_bits 0) or ``delta << code_bits | code``."""

    code_bits: int
    row_count: np.ndarray  # (rows,) int
    entries: np.ndarray  # (n,) uint8
    values: np.ndarray  # code_bits 0: (n,) int8 values; else (groups, 2**code_bits) int8 codebooks
    fillers: int = 0
    row_group: np.ndarray | None = None  # code_bits > 0: (rows,) the codebook of each row

    @property
    def count_bytes(self) -> int:
        """Bytes per row count: 1 when every row has fewer than 256 entries, else 2."""
        return 1 if self.row_count.size == 0 or int(self.row_count.max()) < 256 else 2

    @property
    def nbytes(self) -> int:
        groups = 0 if self.row_group is None else self.row_group.size
        return int(self.count_bytes * self.row_count.size + self.entries.size + self.values.size + groups)


def sparse_encode(w: np.ndarray, code_bits: int = 0) -> Sparse | None:
    """Encode the (rows, cols) int8 matrix ``w``; None when ``code_bits`` cannot code the rows' values.

    With ``code_bits > 0`` every row's nonzero values, plus 0 when a filler is needed, must fit
    ``2**code_bits`` codes of a codebook shared with other rows (:func:`group_codebooks`); the delta field
    then has ``8 - code_bits`` bits.
    """
    w = np.asarray(w).reshape(w.shape[0], -1).astype(np.int64)
    max_delta = (1 << (8 - code_bits)) - 1 if code_bits else 255
    counts: list[int] = []
    deltas: list[list[int]] = []
    values: list[list[int]] = []
    fillers = 0
    for row in w:
        pos = 0
        row_e: list[int] = []
        row_v: list[int] = []
        for col in np.flatnonzero(row).tolist():
            gap = col - pos
            while gap > max_delta:
                row_e.append(max_delta)
                row_v.append(0)
                pos += max_delta
                gap -= max_delta
                fillers += 1
            row_e.append(gap)
            row_v.append(int(row[col]))
            pos = col
        counts.append(len(row_e))
        deltas.append(row_e)
        values.append(row_v)
    if max(counts, default=0) > 32767:
        return None
    row_count = np.asarray(counts, np.int64)
    if not code_bits:
        flat_e = [d for r in deltas for d in r]
        flat_v = [v for r in values for v in r]
        return Sparse(0, row_count, np.asarray(flat_e, np.uint8), np.asarray(flat_v, np.int8), fillers)
    grouped = group_codebooks([set(v) for v in values], 1 << code_bits)
    if grouped is None:
        return None
    tables, row_group = grouped
    lookups = [_lookup(t) for t in tables]
    entries = []
    for r, (row_e, row_v) in enumerate(zip(deltas, values, strict=True)):
        lk = lookups[int(row_group[r])]
        entries.extend((d << code_bits) | lk[v] for d, v in zip(row_e, row_v, strict=True))
    return Sparse(
        code_bits, row_count, np.asarray(entries, np.uint8), tables.astype(np.int8), fillers, row_group
    )


def sparse_decode(sp: Sparse, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, np.int64)
    k = 0
    mask = (1 << sp.code_bits) - 1
    for r, n in enumerate(sp.row_count.tolist()):
        col = 0
        for _ in range(n):
            e = int(sp.entries[k])
            if sp.code_bits:
                assert sp.row_group is not None
                col += e >> sp.code_bits
                out[r, col] += int(sp.values[int(sp.row_group[r]), e & mask])
            else:
                col += e
                out[r, col] += int(sp.values[k])
            k += 1
    return out.astype(np.int8)


# ---------------------------------------------------------------------------------------------------------------
# 3x3 patterns
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Patterns:
    """Pattern storage of OHWI 3x3 weights: ``taps[p]`` the 4 (ky, kx) taps of pattern p, in row-major order."""

    taps: list[tuple[tuple[int, int], ...]]
    kernel_ic: np.ndarray  # (n,) input channel of every kept kernel, grouped by (oc, pattern)
    group_end: np.ndarray  # (out_c * n_patterns,) cumulative end of each (oc, pattern) group
    values: np.ndarray  # (n, taps) int8
    kernels_total: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return int(self.values.size + 2 * self.kernel_ic.size + 4 * self.group_end.size)


MAX_PATTERNS = 8


def pattern_encode(w: np.ndarray, taps: int = 4, max_patterns: int = MAX_PATTERNS) -> Patterns | None:
    """Find a small set of ``taps``-entry patterns covering every nonzero 3x3 kernel of OHWI ``w``.

    Each kernel's nonzero mask must fit in at most ``taps`` taps. Masks with exactly ``taps`` taps become
    patterns (most frequent first); smaller masks join a pattern that contains them, or seed a new one filled
    with the first missing taps in row-major order. None when the weights are not 3x3 or need more than
    ``max_patterns`` patterns.
    """
    w = np.asarray(w)
    if w.ndim != 4 or w.shape[1:3] != (3, 3):
        return None
    out_c, _, _, in_c = w.shape
    nz = w.reshape(out_c, 9, in_c) != 0  # (oc, tap, ic)
    masks = np.zeros((out_c, in_c), np.int64)
    for t in range(9):
        masks |= nz[:, t, :].astype(np.int64) << t
    counts = np.vectorize(lambda m: bin(int(m)).count("1"))(masks) if masks.size else masks
    if np.any(counts > taps):
        return None
    full, freq = np.unique(masks[counts == taps], return_counts=True)
    patterns = [int(m) for m in full[np.argsort(-freq, kind="stable")]]
    for m in sorted({int(m) for m in np.unique(masks[(counts > 0) & (counts < taps)])}):
        if any(m & p == m for p in patterns):
            continue
        p = m
        for t in range(9):
            if bin(p).count("1") == taps:
                break
            p |= 1 << t
        patterns.append(p)
    if not patterns or len(patterns) > max_patterns:
        return None
    tap_lists = [tuple(divmod(t, 3) for t in range(9) if p >> t & 1) for p in patterns]
    ics: list[int] = []
    ends: list[int] = []
    vals: list[list[int]] = []
    for oc in range(out_c):
        assigned: list[list[int]] = [[] for _ in patterns]
        for ic in range(in_c):
            m = int(masks[oc, ic])
            if m == 0:
                continue
            k = next(i for i, p in enumerate(patterns) if m & p == m)
            assigned[k].append(ic)
        for k, group in enumerate(assigned):
            for ic in group:
                ics.append(ic)
                vals.append([int(w[oc, ky, kx, ic]) for ky, kx in tap_lists[k]])
            ends.append(len(ics))
    return Patterns(
        taps=tap_lists,
        kernel_ic=np.asarray(ics, np.int64),
        group_end=np.asarray(ends, np.int64),
        values=np.asarray(vals, np.int8).reshape(-1, taps),
        kernels_total=out_c * in_c,
    )


def pattern_decode(pt: Patterns, shape: tuple[int, int, int, int]) -> np.ndarray:
    out = np.zeros(shape, np.int64)
    n_pat = len(pt.taps)
    start = 0
    for g, end in enumerate(pt.group_end.tolist()):
        oc, k = divmod(g, n_pat)
        for j in range(start, end):
            for t, (ky, kx) in enumerate(pt.taps[k]):
                out[oc, ky, kx, pt.kernel_ic[j]] = pt.values[j, t]
        start = end
    return out.astype(np.int8)


# ---------------------------------------------------------------------------------------------------------------
# Orders of int8 and int16 weights the Cortex-M DSP kernels read
# ---------------------------------------------------------------------------------------------------------------


def fc_weights_dsp(w: np.ndarray) -> np.ndarray:
    """FULLY_CONNECTED (out, in) weights for the DSP ``ed_fc_s8``: rows in blocks of four, the four rows'
    weights interleaved four inputs at a time, then each row's ``in % 4`` tail; the ``out % 4`` last rows
    row-major. Returns a flat array of the same length."""
    w = np.asarray(w).reshape(w.shape[0], -1)
    out, n = w.shape
    n4 = n & ~3
    parts = []
    for o in range(0, out - out % 4, 4):
        block = w[o : o + 4]
        body = block[:, :n4].reshape(4, n4 // 4, 4).transpose(1, 0, 2).reshape(-1)
        parts += [body, block[:, n4:].reshape(-1)]
    parts.append(w[out - out % 4 :].reshape(-1))
    return np.concatenate(parts)


#: Rows of a block of :func:`fc_weights_scalar` (``ED_FC_BLOCK`` in ``firmware/kernels/scalar/ed_fc.c``).
SCALAR_FC_BLOCK = 16


def fc_weights_scalar(w: np.ndarray) -> np.ndarray:
    """FULLY_CONNECTED (out, in) weights for the scalar ``ed_fc_s8`` (cores without SIMD): rows in blocks of 16,
    each block column by column (its 16 weights of input 0, then of input 1, ...), so that one pointer with fixed
    offsets walks every row of a block; the ``out % 16`` rows left in a block of 8 and one of 4 (where there are
    that many) laid out the same way, the last ``out % 4`` rows row-major. Returns a flat array of the same length."""
    w = np.asarray(w).reshape(w.shape[0], -1)
    out = w.shape[0]
    o = out - out % SCALAR_FC_BLOCK
    parts = [w[b : b + SCALAR_FC_BLOCK].T.reshape(-1) for b in range(0, o, SCALAR_FC_BLOCK)]
    for size in (8, 4):
        if out - o >= size:
            parts.append(w[o : o + size].T.reshape(-1))
            o += size
    parts.append(w[o:].reshape(-1))
    return np.concatenate(parts)


def fc_weights_w16(w: np.ndarray, weights_offset: int = 0) -> np.ndarray:
    """(out, in) int8 weights -> the flat int16 layout of ``ed_fc_w16_params_t`` (edgesdk_kernels.h): rows in
    blocks of four (zero rows pad the last), per four inputs the pairs (w0, w2) of the four rows then (w1, w3),
    then each row's ``in % 4`` tail weights. The weight offset is added here, so the kernel never sees it."""
    w = np.asarray(w).astype(np.int64).reshape(w.shape[0], -1) + int(weights_offset)
    out, n = w.shape
    op, n4 = -(-out // 4) * 4, n & ~3
    full = np.zeros((op, n), dtype=np.int64)
    full[:out] = w
    parts = []
    for o in range(0, op, 4):
        blk = full[o : o + 4]
        g = blk[:, :n4].reshape(4, n4 // 4, 4)
        body = np.stack([g[:, :, [0, 2]], g[:, :, [1, 3]]])  # (even/odd, row, group, pair)
        parts += [body.transpose(2, 0, 1, 3).reshape(-1), blk[:, n4:].reshape(-1)]
    res = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    assert np.abs(res).max(initial=0) < 1 << 15
    return res


def im2col_x16_order(k_h: int, k_w: int, in_c: int) -> np.ndarray:
    """The column order of ``im2col_x16`` (``firmware/kernels/cortex-m-dsp/ed_im2col_x16.h``): for each of the
    4 * groups bytes of a window's column, its index in the flattened (k_h, k_w, in_c) window, -1 where no tap (a
    zero weight). Each row's whole words first (a row of 4n + 3 bytes takes one more, its last byte no tap), then
    the rows' leftover bytes: one per row, four rows to a word, or two per row, two rows to a word."""
    row = k_w * in_c
    tail = row % 4
    words = (row + 1) // 4 if tail == 3 else row // 4
    order = [ky * row + b if b < row else -1 for ky in range(k_h) for b in range(4 * words)]
    if tail == 1:
        order += [ky * row + row - 1 if ky < k_h else -1 for ky in range(-(-k_h // 4) * 4)]
    elif tail == 2:
        order += [
            (2 * q + r) * row + row - 2 + b if 2 * q + r < k_h else -1
            for q in range(-(-k_h // 2))
            for r in (0, 1)
            for b in (0, 1)
        ]
    return np.asarray(order, dtype=np.int64)


def im2col_x16_weights(w: np.ndarray) -> np.ndarray:
    """(O, k_h, k_w, in_c) int8 weights as the (O, 4 * groups) rows of :func:`im2col_x16_order` (zeros where no tap)."""
    o, kh, kw, c = w.shape
    order = im2col_x16_order(kh, kw, c)
    flat = np.asarray(w, dtype=np.int64).reshape(o, -1)
    return np.where(order >= 0, flat[:, np.maximum(order, 0)], 0)


#: Stack bytes ``im2col_x16`` may take for its widened weight stream, a pixel pair's column and windows' copy.
IM2COL_X16_STACK = 3072


def im2col_x16_patch(k_h: int, k_w: int, in_c: int, in_w: int, stride_w: int) -> int:
    """Bytes of ``im2col_x16``'s copy of a pixel pair's windows over the padding (``ED_X16_PATCH_BYTES``): as the
    image holds them, or two windows of rows in whole words, whichever is larger."""
    return max((k_h - 1) * in_w * in_c + (stride_w + k_w + 1) * in_c, 2 * k_h * ((k_w * in_c + 4) & ~3))


def im2col_x16_stack(out_c: int, groups: int, patch: int = 0) -> int:
    """Stack bytes of ``im2col_x16``'s weight stream (6 + 4 groups words per channel pair), column (4 groups words)
    and its copy of two windows over the padding (``patch`` bytes)."""
    return 4 * (-(-out_c // 2) * (6 + 4 * groups) + 4 * groups) + -(-patch // 4) * 4


#: Most code bytes one layer's ``im2col_x16`` instance may take (its channel pairs are unrolled).
IM2COL_X16_CODE = 6144


def im2col_x16_code(out_c: int, groups: int) -> int:
    """Code bytes of a layer's ``im2col_x16`` instance (Cortex-M4, -O2: the VWW replica's first layer 1,598 B of
    sequence, IC's 2,944 B): per channel pair ~40 per group and 56 of outputs, the gather ~28 per group, ~900 of
    driver (weight widening, the padding's copies)."""
    return 900 + -(-out_c // 2) * (40 * groups + 56) + 28 * groups


def im2col_x16_refusal(p: dict, w: np.ndarray, bias: np.ndarray | None) -> str | None:
    """Why ``im2col_x16`` cannot run a CONV_2D (``op_params`` ``p``, (O, k_h, k_w, in_c) int8 weights ``w``,
    int32 ``bias`` or None), None where it can: its requantization is SMMULR on the doubled accumulator and a right
    shift of 1 to 22, exact where |bias + input_offset * sum(w)| < 2^29 and the column has at most 768 taps."""
    if int(p["dilation_h"]) != 1 or int(p["dilation_w"]) != 1:
        return "dilated windows are not contiguous rows"
    o, kh, kw, c = w.shape
    groups = len(im2col_x16_order(kh, kw, c)) // 4
    if 4 * groups > 768:
        return f"a column of {4 * groups} taps (at most 768)"
    if im2col_x16_code(o, groups) > IM2COL_X16_CODE:
        return f"{im2col_x16_code(o, groups)} B of code for {o} filters (at most {IM2COL_X16_CODE})"
    # the generated gather's LDR offsets: the pair's last row, its second window stride_w * in_c bytes on
    if (kh - 1) * int(p["in_w"]) * c + int(p["stride_w"]) * c + kw * c + 3 > 4095 or 2 * o + 2 > 4095:
        return "windows or outputs too far apart for the gather's immediate offsets"
    stack = im2col_x16_stack(o, groups, im2col_x16_patch(kh, kw, c, int(p["in_w"]), int(p["stride_w"])))
    if stack > IM2COL_X16_STACK:
        return f"{stack} B of stack for the widened weights and copied windows (at most {IM2COL_X16_STACK})"
    shift = np.broadcast_to(np.asarray(p["output_shift"], dtype=np.int64), (o,))
    if np.any((shift < -22) | (shift > -1)):
        return "a shift outside the right shifts of 1 to 22"
    b = (np.zeros(o, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1)) + int(
        p["input_offset"]
    ) * np.asarray(w, np.int64).reshape(o, -1).sum(axis=1)
    if np.any(np.abs(b) >= 1 << 29):
        return "a bias of 2^29 or more"
    return None


def weights_int16(w: np.ndarray, dilated: bool) -> np.ndarray:
    """OHWI int8 weights -> the int16 layout of ``ed_conv_dot_2x2_w16``: in each dot-product segment (a kernel
    row of k_w * in_c values, or one tap's in_c values when dilated) groups of four as (w0, w2, w1, w3) - the
    lanes SXTAB16 and SXTAB16 ROR 8 pair the input with - then the segment's n % 4 tail in order."""
    o, kh, kw, c = w.shape
    seg = c if dilated else kw * c
    flat = np.asarray(w, dtype=np.int64).reshape(-1, seg)
    n4 = seg & ~3
    body = flat[:, :n4].reshape(len(flat), n4 // 4, 4)[:, :, [0, 2, 1, 3]].reshape(len(flat), n4)
    return np.concatenate([body, flat[:, n4:]], axis=1).reshape(-1)


#: The int8 kernels a decoded layer can run after decoding (``node.attrs["decoded"]["inner"]``; "" is the
#: shared direct kernel) -> the layout they read: "int8" (OHWI / (out, in) row-major) or "w16" (the int16
#: blocked layout of ``ed_fc_w16_params_t``).
#: "w16blocks": the int16 FC body decodes four rows at a time and runs every batch row (pixel) on them.
#: "fc8": the int8 FC kernel's rows (:func:`fc_weights_dsp` on the DSP targets, im2col's windows padded to a
#: multiple of 4 bytes there; row-major elsewhere), the whole layer per call.
DECODE_LAYOUTS = {
    "": "int8",
    "specialized": "int8",
    "pointwise_w16": "w16blocks",
    "im2col_w16": "w16",
    "w16": "w16blocks",
    "pointwise_s8": "fc8",
    "im2col_s8": "fc8",
}


def decode_scratch_name(node_name: str) -> str:
    """The arena buffer a decoded layer decodes its weights into (live at that layer only)."""
    return f"{node_name}::decode_scratch"


def node_decode_scratch_bytes(weights_shape: tuple[int, ...], inner: str) -> int:
    """:func:`decode_scratch_bytes` of a decoded layer with weights of ``weights_shape`` running ``inner``."""
    rows = int(weights_shape[0])
    cols = int(np.prod(weights_shape[1:]))
    return decode_scratch_bytes(rows, cols, DECODE_LAYOUTS[inner])


def decode_scratch_bytes(rows: int, cols: int, layout: str) -> int:
    """RAM bytes ``ed_decode_weights`` needs to decode a rows x cols weight matrix into ``layout``: int8 rows
    plus 4 bytes of slack (whole-word stores), or the int16 blocked layout plus a 4-row int8 buffer (one block
    of it for "w16blocks"), or the int8 FC kernel's rows of ``cols`` rounded up to 4 bytes plus one such row for
    the rows decoded through a buffer ("fc8")."""
    if layout == "int8":
        return rows * cols + 4
    if layout == "fc8":
        row = -(-cols // 4) * 4
        return rows * row + row + 4
    if layout == "w16blocks":
        return 4 * cols * 2 + 4 * cols + 4
    return -(-rows // 4) * 4 * cols * 2 + 4 * cols + 4
