"""One file per op. Each op module holds the float op (float64 forward, from frontends), its quantizer,
and the typed op (the simulator kernel + manifest round trip) that a template in templates/c/ mirrors."""
from .dense import Dense, FloatDense
from .quantize_input import QuantizeInput

# manifest "op" name -> typed op class
OP_TYPES = {cls.op: cls for cls in (QuantizeInput, Dense)}

__all__ = ["Dense", "FloatDense", "QuantizeInput", "OP_TYPES"]
