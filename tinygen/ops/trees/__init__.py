"""Trees: decision trees, forests, extra-trees, gradient boosting and isolation forests as one typed op.

    tree.py        Tree (flat node arrays), FloatTrees (the float IR: scikit-learn's routing), prune
    routing.py     how a node sends rows left, per input kind (float, keys, x_q, raw bits inline / in tables)
    order_keys.py  the order_keys op: float32 -> int32 keys that order as the floats (or the raw bits in place)
    threshold_bins.py  the threshold_bins op: float32 -> the rank of the feature among its split thresholds
    ensemble.py    the tree_ensemble op: integer leaves summed over the trees (the simulator kernel)
    tables.py      the table layout's arrays
    inline.py      the inline layout's C as Python decides it (each tree's lines and tests)
    table_code.py  the table layout's C as Python decides it (records, readers, the walk's choices)
    quantize.py    float trees -> the typed op (exact keys, or q15/q7 integer thresholds and their input formats)
    layout.py      the inline and table layouts: limits and flash estimates
    passes.py      passes that return new ops: bins, raw input, the exact variant's choice
    costs.py       the cost model's counts of the op's C
"""
from .ensemble import LEAF_SCALE, TreeEnsemble
from .layout import LAYOUTS, check_table_limits, choose_layout, estimate_bytes, table_limit_problem
from .order_keys import OrderKeys
from .passes import exact_variant, on_raw_input
from .quantize import quantize_exact, quantize_fixed, threshold_frac_bits
from .threshold_bins import ThresholdBins
from .tree import FloatTrees, Tree

__all__ = ["FloatTrees", "LAYOUTS", "LEAF_SCALE", "OrderKeys", "ThresholdBins", "Tree", "TreeEnsemble", "check_table_limits",
           "choose_layout", "estimate_bytes", "exact_variant", "on_raw_input", "quantize_exact", "quantize_fixed",
           "table_limit_problem", "threshold_frac_bits"]
