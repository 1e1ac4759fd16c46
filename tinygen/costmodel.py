"""Estimated costs of a typed program on a target, from counts that the program and its input rows determine.

The search (tinygen/model_search.py) needs the flash, stack and cycles of dozens of model variants; building and
emulating each one takes seconds, so it estimates first and runs only the ones that matter on the emulator.
An estimate is a linear function of named counts ("features"), one coefficient per count:

- cycles, per row: each op's work on that row: multiply-accumulates (soft-float ones by zero are quicker),
  float->fixed conversions and the shift loops they run on AVR (which depend on each value's exponent), tree
  splits visited on the way to the leaf reached (inline: those whose input lies beyond AVR's 63-byte load
  displacement, those with a second compare, and the distinct tests, since the compiler computes a test
  repeated across trees once), leaf values added, outputs; plus a constant per call. Mean and max over the
  rows are what verify reports (`cycles_per_inference`, `cycles_max`).
- flash: the bytes of the constant tables (exactly) plus code per op (inline trees: per split, per distinct
  test and its nonzero constant bytes, per leaf value) and the soft-float routines the program pulls in.
- stack: a frame per op plus the bytes of the intermediate buffers (exactly).
- ram (static .data + .bss): fitted like flash (0 for every calibrated program: tables live in flash).

Coefficients are fitted by non-negative least squares (weighted for relative error) on emulator measurements
of the search's own candidates on calibration data sets (CALIBRATION_SETS; fixed-point programs add their
measured NAME_predict_q, which tells the input conversion apart), per target, and stored in
costmodel_<target>.json beside this file with the error on the candidates of data sets left out (CHECK_SETS):

    python3 -m tinygen.costmodel calibrate --target avr     # measure, fit, check, write the JSON (~20 min)
    python3 -m tinygen.costmodel check --target avr         # re-measure the error on the left-out candidates

The counts follow the C templates; when a template changes its cost, run `calibrate` again. Programs with a
count never calibrated get an estimate flagged `calibrated=False` (the search then measures before trusting it).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import TinygenError
from .ops import (Activation, Dense, FullyConnected, GaussianJLL, Int8Activation, OrderKeys, QuantizeAffine, QuantizeInput,
                  ThresholdBins, TreeEnsemble)
from .ops.types import BITS

QUANTITIES = ("cycles", "flash", "stack", "ram")
COEFFICIENTS_DIR = Path(__file__).resolve().parent


@dataclass
class Features:
    """The counts of one program on some rows: per-row arrays for cycles, plain numbers for the sizes."""
    cycles: dict[str, np.ndarray] = field(default_factory=dict)
    flash: dict[str, float] = field(default_factory=dict)
    stack: dict[str, float] = field(default_factory=dict)
    input_group: str | None = None  # the float -> integer conversion's group (what NAME_predict_q skips)

    def add_cycles(self, name: str, per_row) -> None:
        self.cycles[name] = self.cycles.get(name, 0.0) + np.asarray(per_row, dtype=np.float64)

    def add_flash(self, name: str, value: float) -> None:
        self.flash[name] = self.flash.get(name, 0.0) + float(value)

    def add_stack(self, name: str, value: float) -> None:
        self.stack[name] = self.stack.get(name, 0.0) + float(value)

    def of(self, quantity: str) -> dict:
        """The counts a quantity is fitted on (static RAM on the flash counts)."""
        return {"cycles": self.cycles, "flash": self.flash, "stack": self.stack, "ram": self.flash}[quantity]


@dataclass
class Estimate:
    flash_bytes: float
    ram_bytes: float
    stack_bytes: float
    cycles_mean: float
    cycles_max: float
    calibrated: bool  # False: some count has no coefficient (a variant the calibration never saw)
    missing: tuple[str, ...] = ()


# ---- the counts ----------------------------------------------------------------------------------------

def op_group(op) -> str:
    """The name of the C an op becomes: ops of one group share coefficients."""
    if isinstance(op, QuantizeInput):  # int8: to_fixed_i8, int16: to_fixed_short, int32: the general to_fixed
        return f"quantize_input/{op.out_type}"
    if isinstance(op, Dense):  # layers of two rows per pass (mac2_i8) cost differently from one row per pass
        return "dense/float32" if op.is_float else \
            f"dense/{op.weight_type}x{op.in_type}/{op.acc_type}{'/pairs' if op.mac_pairs else ''}"
    if isinstance(op, Activation):
        return f"activation/{op.kind}/{op.in_type}"
    if isinstance(op, FullyConnected):
        return f"fully_connected/{op.out_type}"
    if isinstance(op, QuantizeAffine):
        return "quantize_affine"
    if isinstance(op, Int8Activation):
        return f"int8_activation/{op.kind}"
    if isinstance(op, GaussianJLL):
        return f"gaussian_jll/{op.in_type}"
    if isinstance(op, OrderKeys):
        return f"order_keys/{op.mode}"
    if isinstance(op, ThresholdBins):
        return f"threshold_bins/{op.out_type}"
    if isinstance(op, TreeEnsemble):  # one group per layout: its variants are counted apart (_tree_counts)
        return f"trees/{op.layout}"
    raise TinygenError(f"the cost model does not know op {getattr(op, 'op', type(op).__name__)}")


def dense_shift_bits(op: Dense) -> int:
    """Single-bit shift steps of a fixed-point dense's output shift per output (templates/c/dense.c.j2): whole
    bytes are register moves; the rest is a bit loop, or `shift_up` left steps when the C shifts up first."""
    return op.shift_up or op.out_shift % 8


def _to_fixed_counts(x: np.ndarray, frac_bits, out_bits: int = 32) -> dict[str, np.ndarray]:
    """Per row, the paths and shift loops of NAME_to_fixed (templates/c/fixedpoint/to_fixed.h.j2) over the features:
    values scaled up shift left by a variable count (one loop step per bit on AVR, twice: the limit check
    and the shift), values scaled down drop whole bytes first, then shift right bit by bit. Results of 16
    bits take to_fixed_short for normal numbers (a 16-bit shift by right - 8 when right is in [8, 16), an
    8-bit one by right - 16 up to 24); 8-bit results take to_fixed_i8 (one multiply, no loop)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.int64)
    if out_bits <= 16:
        exponent = (bits >> 23) & 0xFF
        normal = (exponent != 0) & (exponent != 0xFF)
        right = 149 - exponent - np.asarray(frac_bits, dtype=np.int64)[None, :]
        if out_bits == 8:
            return {"values": normal.sum(axis=1), "zero_values": (~normal).sum(axis=1)}
        short16 = normal & (right >= 8) & (right < 16)
        short8 = normal & (right >= 16) & (right < 24)
        return {"values": normal.sum(axis=1), "zero_values": (~normal).sum(axis=1),
                "right_bits": np.where(short16, right - 8, 0).sum(axis=1) + np.where(short8, right - 16, 0).sum(axis=1)}
    exponent = (bits >> 23) & 0xFF
    mantissa = bits & 0x7FFFFF
    special = exponent == 0xFF
    mantissa = np.where(exponent != 0, mantissa | 0x800000, mantissa)
    exponent = np.where(exponent == 0, 1, exponent)
    shift = exponent - 150 + np.asarray(frac_bits, dtype=np.int64)[None, :]
    live = ~special & (mantissa != 0)
    left = live & (shift >= 0) & (shift < 32)
    right = live & (shift < 0) & (shift >= -24)
    right_count = np.where(right, -shift - 1, 0)
    return {"values": live.sum(axis=1), "zero_values": (~live).sum(axis=1),
            "left_bits": np.where(left, shift, 0).sum(axis=1), "right_bytes": (right_count // 8).sum(axis=1),
            "right_bits": (right_count % 8).sum(axis=1)}


# AVR loads with a displacement reach 63 bytes from a pointer: inline splits on an input further along need
# their address computed first
AVR_DISPLACEMENT = 63


def _split_classes(op: TreeEnsemble, tree) -> tuple[np.ndarray, np.ndarray]:
    """Per node of an inline tree: (its input lies beyond the load displacement, its test takes two compares)."""
    width = BITS.get(op.in_type, 32) // 8
    far = (np.maximum(tree.feature, 0) + 1) * width - 1 > AVR_DISPLACEMENT
    if op.in_kind == "bits":
        double = np.array([left >= 0 and op.bits_test(tree, i)[0] in ("le_not_nan", "ge_or_nan")
                           for i, left in enumerate(tree.left)], dtype=bool)
    elif op.in_kind in ("keys", "bins"):
        double = np.array([left >= 0 and op.nan_test(tree, i) != "" for i, left in enumerate(tree.left)], dtype=bool)
    else:
        double = np.zeros(len(tree.left), dtype=bool)
    inner = tree.left >= 0
    return far & inner, double & inner


def _path_counts(tree, leaves: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """Per row, how many marked splits lie on the path to the leaf it reached."""
    on_path = np.zeros(len(tree.left), dtype=np.int64)  # marked splits from the root down to each node
    for node in range(len(tree.left)):  # a parent is numbered before its children
        if tree.left[node] >= 0:
            on_path[tree.left[node]] = on_path[tree.right[node]] = on_path[node] + int(marked[node])
    return on_path[leaves]


def _distinct_on_paths(op: TreeEnsemble, reached: list, key) -> np.ndarray:
    """Per row, how many distinct key(tree, node) values the splits on its paths through every tree have (the
    compiler computes a test, or loads an input, once for all the inline trees that repeat it)."""
    ids: dict = {}
    paths = []
    for tree, leaves in zip(op.trees, reached):
        above = [[] for _ in tree.left]  # the splits from the root down to each node
        for node in range(len(tree.left)):  # a parent is numbered before its children
            if tree.left[node] >= 0:
                above[tree.left[node]] = above[tree.right[node]] = above[node] + [ids.setdefault(key(tree, node), len(ids))]
        paths.append((above, leaves))
    seen = np.zeros((len(reached[0]) if reached else 0, max(len(ids), 1)), dtype=bool)
    for above, leaves in paths:
        for leaf in np.unique(leaves):
            if above[leaf]:
                rows = np.nonzero(leaves == leaf)[0]
                seen[np.ix_(rows, above[leaf])] = True
    return seen.sum(axis=1)


def _nonzero_bytes(value: int) -> int:
    """Bytes of a 32-bit constant that are not zero: AVR compares a zero byte with its zero register, with no
    instruction to load it."""
    return sum(((int(value) & 0xFFFFFFFF) >> shift) & 0xFF != 0 for shift in (0, 8, 16, 24))


def _test_key(op: TreeEnsemble, tree, node: int) -> tuple:
    """What an inline split computes, as the compiler sees it: splits with the same key are one computation."""
    if op.in_kind == "bits":
        return (int(tree.feature[node]), *op.bits_test(tree, node))
    return (int(tree.feature[node]), int(tree.threshold[node]), op.nan_test(tree, node))


def _tree_counts(op: TreeEnsemble, values: np.ndarray, group: str, features: Features) -> None:
    """Inline code: per split visited, a test (with an address computed first beyond the load displacement,
    and a second compare for some NaN rules); per leaf reached, an add of each nonzero value (or a return of
    the one class fraction). Tables: per split visited, one record read (the input found by its byte offset,
    or by an index times its size); per tree, its leaf's row of values added (one value for trees of one column)."""
    rows = len(values)
    n_trees = len(op.trees)
    if op.layout == "inline":
        returns = op.n_summed == 1 and op.leaf_type == "uint16"  # each tree returns its class fraction
        visited, visited_far, visited_double, leaf_adds = (np.zeros(rows) for _ in range(4))
        splits = splits_far = splits_double = leaf_values = leaves = 0
        all_reached = op.leaves_reached(values)
        features.add_cycles(f"{group}:distinct_tests", _distinct_on_paths(
            op, all_reached, lambda tree, node: _test_key(op, tree, node)))
        features.add_cycles(f"{group}:distinct_inputs", _distinct_on_paths(op, all_reached, lambda tree, node: int(tree.feature[node])))
        for tree, reached in zip(op.trees, all_reached):
            inner = tree.left >= 0
            far, double = _split_classes(op, tree)
            nonzero = (tree.value[:, :op.n_summed] != 0).sum(axis=1)
            visited += _path_counts(tree, reached, inner)
            visited_far += _path_counts(tree, reached, far)
            visited_double += _path_counts(tree, reached, double)
            leaf_adds += 0 if returns else nonzero[reached]
            splits, splits_far, splits_double = splits + int(inner.sum()), splits_far + int(far.sum()), \
                splits_double + int(double.sum())
            leaf_values += 0 if returns else int(nonzero[~inner].sum())
            leaves += int((~inner).sum()) if returns else 0
        tests = {_test_key(op, tree, i) for tree in op.trees for i in np.nonzero(tree.left >= 0)[0]}
        features.add_flash(f"{group}:distinct_tests", len(tests))
        features.add_flash(f"{group}:constant_bytes", sum(_nonzero_bytes(c) for test in tests for c in test[-2:]
                                                          if isinstance(c, (int, np.integer))))
        keys = op.in_kind in ("keys", "bins")  # compares of int32 keys in a buffer, not of the raw bits
        # beyond the load displacement, an address is computed; with several outputs in memory the pointer
        # registers are busier and it costs more
        far = "visited_far" if op.n_summed == 1 else "visited_far_outputs_in_memory"
        for name, per_row in (("visited_splits", visited), (far, visited_far), ("visited_double", visited_double),
                              ("visited_keys", visited if keys else 0 * visited),
                              # one output stays in registers; several are added to the output array in memory
                              ("leaf_adds" if op.n_summed == 1 else "leaf_adds_to_memory", leaf_adds),
                              ("leaf_returns", np.full(rows, n_trees if returns else 0))):
            features.add_cycles(f"{group}:{name}", per_row)
        for name, count in (("splits", splits), ("splits_far", splits_far), ("splits_double", splits_double),
                            ("leaf_values", leaf_values), ("leaf_returns", leaves), ("keys", int(keys))):
            features.add_flash(f"{group}:{name}", count)
    else:
        tables = op.tables()
        visited = sum(_path_counts(tree, reached, tree.left >= 0) for tree, reached in zip(op.trees, op.leaves_reached(values)))
        features.add_cycles(f"{group}:visited_splits", visited)
        features.add_cycles(f"{group}:visited_by_index", visited if not tables.feature_offsets else 0 * visited)
        per_leaf = 1 if tables.column is not None else op.n_summed
        features.add_cycles(f"{group}:leaf_values", np.full(rows, n_trees * per_leaf))
        features.add_cycles(f"{group}:leaf_indexed", np.full(rows, n_trees if tables.leaf_index is not None else 0))
        features.add_cycles(f"{group}:column_trees", np.full(rows, n_trees if tables.column is not None else 0))
        for name, flag in (("by_index", not tables.feature_offsets), ("column", tables.column is not None),
                           ("indexed", tables.leaf_index is not None), ("int32_leaves", op.leaf_type == "int32")):
            features.add_flash(f"{group}:{name}", int(flag))
    features.add_cycles(f"{group}:trees", np.full(rows, n_trees))
    features.add_cycles(f"{group}:outputs", np.full(rows, op.n_out))
    features.add_flash(f"{group}:trees", n_trees)
    if op.in_kind not in ("bits", "keys"):  # float compares (libgcc calls on AVR), x_q or bins: counted apart, so
        # an estimate for them says it is not calibrated until programs of theirs are measured
        features.add_cycles(f"{group}:visited_splits_{op.in_kind}", features.cycles[f"{group}:visited_splits"])
        features.add_flash(f"{group}:{op.in_kind}_input", 1)


def _dense_counts(op, values: np.ndarray, group: str, features: Features) -> None:
    """A dense or fully_connected layer's counts on its input rows `values` (templates/c/dense.c.j2)."""
    rows = len(values)
    features.add_cycles(f"{group}:outputs", np.full(rows, op.n_out))
    if isinstance(op, Dense) and op.is_float:  # soft-float multiplies by zero return early
        zeros = (values == 0).sum(axis=1)
        features.add_cycles(f"{group}:zero_macs", zeros * op.n_out)
        features.add_cycles(f"{group}:macs", (op.n_in - zeros) * op.n_out)
    else:
        features.add_cycles(f"{group}:macs", np.full(rows, op.n_in * op.n_out))
    if not isinstance(op, Dense) or op.is_float:
        return
    if op.row_shifts is None:  # whole bytes are moves; what is left is a bit loop
        features.add_cycles(f"{group}:shift_bits", np.full(rows, op.n_out * dense_shift_bits(op)))
    else:  # shifts read from a table: a loop step per bit
        features.add_cycles(f"{group}:row_shift_bits", np.full(rows, sum(op.row_shifts)))
    if op.col_shifts is not None:  # the gathered copy of the input; a MAC call and a multiply per group
        features.add_cycles(f"{group}:gathered_inputs", np.full(rows, op.n_in))
        features.add_cycles(f"{group}:column_groups", np.full(rows, op.n_out * len(op.column_groups)))
        features.add_flash(f"{group}:column_groups", len(op.column_groups))
        features.add_stack(f"{group}:gathered_bytes", op.n_in * BITS[op.in_type] // 8)


def _soft_float_routines(program) -> set[str]:
    """The soft-float routines a program calls on a part without an FPU."""
    float_math = any(getattr(op, "is_float", False) for op in program.ops)  # float32 dense, activations, GaussianNB
    routines = {"add", "mul"} if float_math else set()
    if any(isinstance(op, QuantizeAffine) for op in program.ops):
        routines |= {"div", "compare"}  # x / scale, then range checks
    if any(getattr(op, "in_kind", "") == "float" for op in program.ops):
        routines.add("compare")
    if program.decision == "value" and program.output_scale is not None:  # value = score * scale
        routines |= {"mul", "from_int"}
    return routines


def program_features(program, X) -> Features:
    """Every count of `program` run on the rows X (float features, as the C receives them)."""
    values = np.asarray(program.check_features(X), dtype=np.float64).astype(np.float32)
    rows = len(values)
    features = Features()
    features.add_cycles("predict:calls", np.ones(rows))
    buffers = 0
    for op in program.ops:
        group = op_group(op)
        features.add_flash(f"{group}:code", 1)
        features.add_flash("tables:bytes", sum(op.table_bytes().values()))
        features.add_stack(f"{group}:frame", 1)
        if isinstance(op, QuantizeInput):
            features.input_group = group
            for name, per_row in _to_fixed_counts(values, op.frac_bits, BITS[op.out_type]).items():
                features.add_cycles(f"{group}:{name}", per_row)
            if op.has_offsets:  # the wide conversion, then the subtraction and the narrow saturation
                features.add_cycles(f"{group}:offset_values/wide{op.wide_bits}",
                                    np.full(rows, sum(1 for o in op.offsets if o)))
        elif isinstance(op, (Dense, FullyConnected)):
            _dense_counts(op, values, group, features)
        elif isinstance(op, GaussianJLL):
            features.add_cycles(f"{group}:cells", np.full(rows, op.theta.size))
            features.add_cycles(f"{group}:outputs", np.full(rows, op.n_out))
            if op.shift is not None:
                shift = np.asarray(op.shift, dtype=np.int64)
                right = np.maximum(shift, 0)  # a lifted cell (shift < 0) shifts 32 bits in all: the test and the lift
                features.add_cycles(f"{group}:shift_bytes", np.full(rows, int((right // 8).sum())))
                features.add_cycles(f"{group}:shift_bits", np.full(rows, int((right % 8).sum() + 32 * (shift < 0).sum())))
        elif isinstance(op, TreeEnsemble):
            _tree_counts(op, values, group, features)
        elif isinstance(op, ThresholdBins):
            bins = op.forward(values)
            features.add_cycles(f"{group}:values", np.full(rows, op.n_out))
            features.add_cycles(f"{group}:edges_scanned", np.minimum(bins, 17).sum(axis=1))
        elif isinstance(op, QuantizeAffine):  # a soft-float divide per value, quick for zeros
            features.input_group = group
            zeros = (values == 0).sum(axis=1)
            features.add_cycles(f"{group}:zero_values", zeros)
            features.add_cycles(f"{group}:values", op.n_out - zeros)
        elif not (isinstance(op, OrderKeys) and op.mode != "keys"):  # element-wise: activations, the key pass
            features.add_cycles(f"{group}:values", np.full(rows, op.n_out))
        values = op.forward(values)
        if op is not program.ops[-1] and not (isinstance(op, OrderKeys) and op.mode != "keys"):  # raw bits: no copy
            buffers += op.n_out * BITS.get(op.out_type, 32) // 8
    decide = f"decide/{program.decision}"
    features.add_cycles(f"{decide}:calls", np.ones(rows))
    features.add_cycles(f"{decide}:outputs", np.full(rows, program.n_outputs))
    features.add_flash(f"{decide}:code", 1)
    for routine in _soft_float_routines(program):  # libgcc's, pulled in once by whichever op needs them
        features.add_flash(f"softfloat:{routine}", 1)
    features.add_stack("buffers:bytes", buffers + 4 * program.n_outputs)
    return features


# ---- coefficients ----------------------------------------------------------------------------------------

@dataclass
class CostModel:
    target: str
    coefficients: dict[str, dict[str, float]]  # quantity -> feature -> coefficient
    error: dict = field(default_factory=dict)  # how far the estimates were from measurements left out of the fit
    notes: dict = field(default_factory=dict)

    def estimate(self, program, X) -> Estimate:
        features = program_features(program, X)
        missing = sorted({name for q in QUANTITIES for name in features.of(q) if name not in self.coefficients[q]})
        cycles = sum((self.coefficients["cycles"].get(k, 0.0) * v for k, v in features.cycles.items()),
                     np.zeros(len(X)))
        size = {q: sum(self.coefficients[q].get(k, 0.0) * v for k, v in features.of(q).items())
                for q in ("flash", "stack", "ram")}
        return Estimate(flash_bytes=float(size["flash"]), ram_bytes=float(size["ram"]), stack_bytes=float(size["stack"]),
                        cycles_mean=float(cycles.mean()), cycles_max=float(cycles.max()), calibrated=not missing,
                        missing=tuple(missing))

    def relative_error(self, quantity: str) -> float:
        """The largest |estimate - measured| / measured seen on programs left out of the fit (the margin the
        search allows before it trusts an estimate), for cycles_mean, cycles_max, flash or stack."""
        return float(self.error.get(quantity, {}).get("max_relative", 1.0))

    def absolute_error(self, quantity: str) -> float:
        return float(self.error.get(quantity, {}).get("max_absolute", 0.0))

    def to_dict(self) -> dict:
        return {"format": "tinygen-cost-model", "version": 1, "target": self.target, "notes": self.notes,
                "error": self.error, "coefficients": self.coefficients}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")


def coefficients_path(target: str) -> Path:
    return COEFFICIENTS_DIR / f"costmodel_{target}.json"


def load(target: str) -> CostModel:
    path = coefficients_path(target)
    if not path.is_file():
        available = sorted(p.stem.split("_", 1)[1] for p in COEFFICIENTS_DIR.glob("costmodel_*.json"))
        raise TinygenError(f"no cost model for target {target} (calibrated targets: {', '.join(available) or 'none'}); "
                           f"make one with: python3 -m tinygen.costmodel calibrate --target {target}")
    data = json.loads(path.read_text())
    return CostModel(target=data["target"], coefficients=data["coefficients"], error=data.get("error", {}),
                     notes=data.get("notes", {}))


# Counts whose coefficient is known, not fitted: constant tables are their bytes in flash, buffers their bytes on
# the stack.
FIXED = {"flash": {"tables:bytes": 1.0}, "stack": {"buffers:bytes": 1.0}}


def fit(target: str, samples: list[tuple[Features, dict]]) -> CostModel:
    """Coefficients from (features, measured costs) pairs, by non-negative least squares per quantity. The
    measured dict holds verify's fields: cycles_per_inference (the mean over the rows), flash_bytes, ...
    Cycles are fitted on the per-row mean counts (the mean is linear in them)."""
    from scipy.optimize import nnls

    measured_key = {"cycles": "cycles_per_inference", "flash": "flash_bytes", "stack": "stack_bytes", "ram": "ram_bytes"}
    coefficients = {}
    for quantity in QUANTITIES:
        fixed = FIXED.get(quantity, {}) if quantity != "ram" else {}
        names = sorted({name for features, _ in samples for name in features.of(quantity)} - set(fixed))
        rows, known, measured = [], [], []
        for features, m in samples:
            counts = features.of(quantity)
            rows.append([float(np.mean(counts[n])) if n in counts else 0.0 for n in names])
            known.append(sum(c * float(np.mean(counts.get(n, 0.0))) for n, c in fixed.items()))
            measured.append(float(m[measured_key[quantity]]))
            if quantity == "cycles" and features.input_group and m.get("cycles_predict_q") is not None:
                # NAME_predict_q, timed too, is the same program without the conversion: it tells them apart
                skip = features.input_group + ":"
                rows.append([0.0 if n.startswith(skip) else v for n, v in zip(names, rows[-1])])
                known.append(0.0)
                measured.append(float(m["cycles_predict_q"]))
        A = np.array(rows)
        measured = np.array(measured)
        b = measured - np.array(known)
        # relative error matters, not absolute: weight each program by 1 / its measured cost
        weight = 1.0 / np.maximum(measured, 1.0) if quantity == "cycles" else 1.0 / np.maximum(measured, 64.0)
        solution, _ = nnls(A * weight[:, None], b * weight, maxiter=50 * len(names) + 1000)
        coefficients[quantity] = {n: round(float(c), 4) for n, c in zip(names, solution)}
        coefficients[quantity].update(fixed)
    return CostModel(target=target, coefficients=coefficients)


def errors(model: CostModel, rows: list[tuple[Estimate, dict]]) -> dict:
    """Per quantity: max and mean relative error, max absolute error of the estimates against measurements."""
    pairs = {"cycles_mean": [(e.cycles_mean, m["cycles_per_inference"]) for e, m in rows],
             "cycles_max": [(e.cycles_max, m["cycles_max"]) for e, m in rows],
             "flash": [(e.flash_bytes, m["flash_bytes"]) for e, m in rows],
             "stack": [(e.stack_bytes, m["stack_bytes"]) for e, m in rows]}
    out = {}
    for quantity, values in pairs.items():
        est = np.array([v[0] for v in values], dtype=np.float64)
        meas = np.array([v[1] for v in values], dtype=np.float64)
        relative = np.abs(est - meas) / np.maximum(meas, 1.0)
        out[quantity] = {"programs": len(values), "max_relative": round(float(relative.max(initial=0.0)), 4),
                         "mean_relative": round(float(relative.mean()) if len(values) else 0.0, 4),
                         "within_10_percent": round(float((relative <= 0.1).mean()) if len(values) else 0.0, 4),
                         "max_absolute": round(float(np.abs(est - meas).max(initial=0.0)), 1)}
    return out


# ---- calibration: python3 -m tinygen.costmodel calibrate|check --target T --------------------------------

# Fitted on these; the error is stated on the search's own candidates for breast_cancer and digits, left out.
CALIBRATION_SETS = ("iris", "wine", "diabetes", "synthetic-8x5", "synthetic-20x2", "synthetic-36x2", "synthetic-48x6",
                    "synthetic-64x10", "sparse-16x2", "sparse-40x4")
CHECK_SETS = ("breast_cancer", "digits")


def _calibration_data(name: str):
    """(X, y) of a bundled data set, or of a synthetic one "synthetic-<features>x<classes>" (fixed seed)."""
    from . import data

    kind, _, shape = name.partition("-")
    if kind in ("synthetic", "sparse"):
        from sklearn.datasets import make_classification

        n_features, n_classes = (int(v) for v in shape.split("x"))
        X, y = make_classification(n_samples=100 * n_classes, n_features=n_features, n_informative=n_features // 2,
                                   n_classes=n_classes, random_state=0)
        if kind == "sparse":  # counts: small integers, half of them zero (zeros take quicker paths)
            return np.round(np.maximum(X, 0.0) * 4.0), y
        return X * np.linspace(0.01, 300.0, n_features), y  # features of many magnitudes, as real data has
    bundle = data.load_bundled(name)
    return bundle.X, bundle.y


def candidate_programs(dataset_name: str):
    """(label, program, X) for every candidate the search would consider on a data set: each configuration of
    the grid fitted on every row, in each of its variants, converted with every row as calibration."""
    from . import train as train_module
    from .api import convert
    from .data import Dataset
    from .model_search import grid, variants

    X, y = _calibration_data(dataset_name)
    task = train_module.detect_task(y)
    dataset = Dataset(X, y, [f"x{i}" for i in range(X.shape[1])], "y")
    for spec in grid(task):
        estimator = train_module.fit(dataset, spec.kind, params=dict(spec.params), seed=0, task=task)
        for variant in variants(spec.kind):
            try:
                program = convert(estimator, dtype=variant.dtype, calibration=X, layout=variant.layout,
                                  bins=variant.bins).program
            except TinygenError:
                continue
            yield f"{dataset_name}: {spec.label} ({variant.label})", program, X


def _measure_all(target: str, set_names, cache: dict, jobs: int, echo) -> list:
    """[(label, program, X, measured)] for every candidate of the sets; measured comes from `cache` when there,
    else from the emulator (compare_on_target, as verify); candidates that cannot run there are left out."""
    from concurrent.futures import ThreadPoolExecutor

    from .api import ConvertedModel
    from .verify import compare_on_target

    items = [item for name in set_names for item in candidate_programs(name)]

    def run(item):
        label, program, X = item
        # the program itself, not only its name, keys the cache: a changed program is measured again
        key = f"{label} {hashlib.sha256(program.to_json().encode()).hexdigest()[:16]}"
        if key not in cache:
            try:
                cache[key] = compare_on_target(ConvertedModel(program), target, X, "m")
            except TinygenError as exc:
                cache[key] = {"problem": str(exc)}
        return (*item, cache[key])

    out = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for label, program, X, measured in pool.map(run, items):
            if "problem" in measured:
                echo(f"  skipped {label}: {measured['problem'][:120]}")
                continue
            out.append((label, program, X, measured))
    return out


def _print_errors(model: CostModel, rows, echo) -> dict:
    echo(f"{'candidate':<58}{'cycles':>10}{'est.':>10}{'err':>8}{'max cyc':>10}{'est.':>10}{'err':>8}"
         f"{'flash':>8}{'est.':>8}{'err':>8}{'stack':>7}{'est.':>6}")
    pairs = []
    for label, program, X, measured in rows:
        estimate = model.estimate(program, X)
        pairs.append((estimate, measured))

        def err(e, m):
            return f"{100 * (e - m) / max(m, 1):+.1f}%"

        echo(f"{label[:57]:<58}{measured['cycles_per_inference']:>10.0f}{estimate.cycles_mean:>10.0f}"
             f"{err(estimate.cycles_mean, measured['cycles_per_inference']):>8}{measured['cycles_max']:>10.0f}"
             f"{estimate.cycles_max:>10.0f}{err(estimate.cycles_max, measured['cycles_max']):>8}"
             f"{measured['flash_bytes']:>8.0f}{estimate.flash_bytes:>8.0f}{err(estimate.flash_bytes, measured['flash_bytes']):>8}"
             f"{measured['stack_bytes']:>7.0f}{estimate.stack_bytes:>6.0f}")
    summary = errors(model, pairs)
    for quantity, stats in summary.items():
        echo(f"{quantity:<12} {stats['programs']} programs: max |error| {100 * stats['max_relative']:.1f}%, "
             f"mean {100 * stats['mean_relative']:.1f}%, {100 * stats['within_10_percent']:.0f}% of them within 10%; "
             f"largest {stats['max_absolute']:,.0f} {'cycles' if quantity.startswith('cycles') else 'B'}")
    return summary


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python3 -m tinygen.costmodel", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("calibrate", "check"),
                        help="calibrate: measure, fit and write the coefficients; check: the error on the check sets")
    parser.add_argument("--target", default="avr")
    parser.add_argument("--jobs", type=int, default=2, help="emulator runs in parallel")
    parser.add_argument("--cache", help="JSON file keeping measurements between runs (re-fit without re-measuring)")
    args = parser.parse_args(argv)
    cache_path = Path(args.cache) if args.cache else None
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.is_file() else {}
    try:
        if args.command == "calibrate":
            fitted_on = _measure_all(args.target, CALIBRATION_SETS, cache, args.jobs, print)
            model = fit(args.target, [(program_features(p, X), m) for _, p, X, m in fitted_on])
            print(f"fitted on {len(fitted_on)} programs ({', '.join(CALIBRATION_SETS)}); in-sample:")
            in_sample = _print_errors(model, fitted_on, print)
        checked = _measure_all(args.target, CHECK_SETS, cache, args.jobs, print)
        if args.command == "check":
            model = load(args.target)
        print(f"left out of the fit: {len(checked)} candidates of {', '.join(CHECK_SETS)}")
        model.error = _print_errors(model, checked, print)
        if args.command == "calibrate":
            model.notes = {"fitted_on": list(CALIBRATION_SETS), "programs": len(fitted_on), "in_sample_error": in_sample,
                           "error_on": list(CHECK_SETS), "command": f"python3 -m tinygen.costmodel calibrate --target {args.target}"}
            model.save(coefficients_path(args.target))
            print(f"wrote {coefficients_path(args.target)}")
    finally:
        if cache_path:
            cache_path.write_text(json.dumps(cache, indent=0, sort_keys=True))


if __name__ == "__main__":
    main()
