"""Compressed storage of int8 weights: sparse (relative indices), codebook (packed indices), 3x3 patterns.

Pure NumPy encoders shared by the kernel-selection passes (which count the bytes of each candidate) and by
the C backend (which writes the arrays). Each format stores the *same* int8 weights as the dense tensor, so a
kernel reading it computes the dense kernel's integer result exactly; :func:`sparse_decode`,
:func:`codebook_decode` and :func:`pattern_decode` invert the encoders and are used by the tests.

Formats (after Han et al., "Deep Compression", ICLR 2016, and Niu et al., "PatDNN", ASPLOS 2020):

- *sparse*: per row, the count of entries (uint8 when every row has fewer than 256, else int16) and per entry a column delta (the first from column 0)
  with either its int8 value (``code_bits == 0``: one byte delta + one byte value) or a code into the row's
  (shared) codebook packed into the same byte (``delta << code_bits | code``). A gap longer than the delta field is
  bridged by filler entries carrying the weight 0.
- *codebook*: tables of ``2**bits`` int8 values shared by the output channels whose values fit one (one
  byte per channel names its table) and the codes of each channel's weights packed LSB first from a byte
  boundary (bits 1, 2 or 4).
- *pattern*: 3x3 kernels whose nonzero taps lie inside one of a few 4-tap patterns; per output channel and
  pattern the list of input channels (connectivity: a kernel not listed is all zero), 4 int8 values each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CODE_BITS = (1, 2, 4)


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


#: The int8 kernels a decoded layer can run after decoding (``node.attrs["decoded"]["inner"]``; "" is the
#: shared direct kernel) -> the layout they read: "int8" (OHWI / (out, in) row-major) or "w16" (the int16
#: blocked layout of ``ed_fc_w16_params_t``).
#: "w16blocks": the int16 FC body decodes four rows at a time and runs every batch row (pixel) on them.
DECODE_LAYOUTS = {
    "": "int8",
    "specialized": "int8",
    "pointwise_w16": "w16blocks",
    "im2col_w16": "w16",
    "w16": "w16blocks",
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
    of it for "w16blocks")."""
    if layout == "int8":
        return rows * cols + 4
    if layout == "w16blocks":
        return 4 * cols * 2 + 4 * cols + 4
    return -(-rows // 4) * 4 * cols * 2 + 4 * cols + 4
