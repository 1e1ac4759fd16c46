"""The table layout's C as Python decides it; templates/c/tree_ensemble_table.c.j2 only spells it in C.

TableCode holds, as plain data, every choice the template would otherwise work out from the op and its
TreeTables (tables.py says why the records are laid out as they are):
  input_name, input_type  what the walk reads: x (raw float32 bits), x_q (quantized) or k (keys or bins)
  *_type                  each table's element type (the template reads it with its c_primitives.reader)
  records                 one (threshold, feature code, left ref, right ref) per split
  nan_flip_bytes          the splits' NaN bits packed 8 to a byte (bit i % 8 of byte i / 8), when the
                          feature codes cannot hold them (else None)
  inner_base .. column    the other arrays, as TreeTables has them
  access                  how the walk finds the visited split's input from its feature code f: "offset"
                          (f & 0x7F is its byte offset), "masked" (f & 0x7F is its index) or "index" (f is)
  flip                    where the split's NaN bit is: "code" (bit 7 of f), "table" (nan_flip_bytes) or
                          "none" (no split has it)
  raw_bits                the walk makes the visited split's key from x's raw float32 bits (k = u, or
                          u ^ 0x7FFFFFFF when negative) and moves a NaN on the wrong side of k <= t to the side
                          its missing_left bit says; else it compares k[f] <= t on keys, bins or x_q
  halves                  keys of 4 bytes: AVR compares the high halves first, the low halves only on a tie
  nan_fix                 keys, bins: "left" (the NaN key lies above every threshold and a flipped split
                          sends it left), "right" (below every threshold; sent right) or None (no split flips)
  leaf_add                "column" (a tree adds one value, to out[column[t]]), "one" (to out[0]) or
                          "each" (n_summed values, to out[0 ..])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...c_primitives import reader
from .tables import TreeTables


@dataclass(frozen=True)
class TableCode:
    input_name: str  # "x" | "x_q" | "k"
    input_type: str  # element type of what the walk reads (float32 for raw bits)
    in_kind: str  # the op's: "bits" | "keys" | "bins" | "fixed"
    records: list[tuple[int, int, int, int]]  # per split: threshold, feature code, left ref, right ref
    nan_flip_bytes: list[int] | None
    inner_base: list[int]
    leaf_base: list[int]
    leaf: np.ndarray  # [rows, values per leaf]
    leaf_index: list[int] | None
    column: list[int] | None
    n_leaves: int
    key_bytes: int  # bytes of one input value (the comment's offsets: key_bytes x index)
    threshold_type: str  # the op's in_type (raw bits: int32 order keys)
    ref_type: str
    feature_type: str
    leaf_type: str
    index_type: str
    access: str  # "offset" | "masked" | "index"
    byte_offsets: bool  # feature codes are byte offsets (key_bytes x index)
    flag_bit: bool  # bit 7 of a feature code holds the split's NaN bit
    flip: str  # "code" | "table" | "none"
    raw_bits: bool
    halves: bool
    infinite_thresholds: bool  # raw bits: a threshold is +-inf's key (only then can a NaN tie its high half)
    nan_fix: str | None  # "left" | "right" | None
    nan_bin: int | None  # bins: the NaN bin (order keys spell theirs by the header's NAN_LOW / NAN_HIGH)
    tree_loop: bool  # more than one tree: the walk is a loop over t
    leaf_add: str  # "column" | "one" | "each"

    def helpers(self, bias: bool) -> tuple[str, ...]:
        """The macros the table template calls (`bias`: it reads the boosting's initial sums); the raw bits'
        primitive is the op's to add (both layouts call it)."""
        helpers = ["ROM", "rd_u16", reader(self.leaf_type)]  # leaf_base, leaves
        if bias:
            helpers.append("rd_i32")
        if self.leaf_index is not None:
            helpers.append(reader(self.index_type))
        if self.column is not None or self.nan_flip_bytes is not None:
            helpers.append("rd_u8")
        if self.records:  # thresholds, feature codes, child refs
            helpers += [reader(self.threshold_type), reader(self.feature_type), reader(self.ref_type)]
        return tuple(helpers)


def pack_bits(flags: list[bool]) -> list[int]:
    """flags as bytes, flag i in bit i % 8 of byte i // 8."""
    return [sum(1 << j for j, flag in enumerate(flags[start:start + 8]) if flag) for start in range(0, len(flags), 8)]


def _nan_fix(op, tables: TreeTables) -> str | None:
    """Keys and bins: which way a flipped split moves the NaN key (module doc)."""
    if op.in_kind == "bits" or not any(tables.nan_flip):
        return None
    return "right" if op.nan_key <= 0 else "left"


def _access(tables: TreeTables) -> str:
    if tables.feature_offsets and tables.key_bytes > 1:  # one-byte keys: the offset is the index
        return "offset"
    return "masked" if tables.flag_in_code else "index"


def _leaf_add(op, tables: TreeTables) -> str:
    if tables.column is not None:
        return "column"
    return "one" if op.n_summed == 1 else "each"


def table_code(op, tables: TreeTables) -> TableCode:
    """The table layout's C of tree op `op`, whose tables are `tables` (module doc)."""
    raw_bits = op.in_kind == "bits"
    input_name, input_type = op.input_arg
    nan_fix = _nan_fix(op, tables)
    return TableCode(
        input_name=input_name, input_type=input_type, in_kind=op.in_kind,
        records=list(zip(tables.threshold, tables.feature_code, tables.left, tables.right)),
        nan_flip_bytes=pack_bits(tables.nan_flip) if tables.nan_flip_table else None,
        inner_base=tables.inner_base, leaf_base=tables.leaf_base, leaf=tables.leaf, leaf_index=tables.leaf_index,
        column=tables.column, n_leaves=tables.n_leaves, key_bytes=tables.key_bytes, threshold_type=op.in_type,
        ref_type=tables.ref_type, feature_type=tables.feature_type, leaf_type=op.leaf_type,
        index_type=tables.index_type, access=_access(tables), byte_offsets=tables.feature_offsets,
        flag_bit=tables.flag_in_code and (raw_bits or nan_fix is not None),
        flip="code" if tables.flag_in_code else ("table" if tables.nan_flip_table else "none"),
        raw_bits=raw_bits, halves=not raw_bits and tables.key_bytes == 4,
        infinite_thresholds=raw_bits and tables.infinite_thresholds, nan_fix=nan_fix,
        nan_bin=int(op.nan_key) if op.in_kind == "bins" else None,
        tree_loop=len(op.trees) > 1, leaf_add=_leaf_add(op, tables))
