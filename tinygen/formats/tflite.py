"""--format tflite: OUTDIR/NAME.h, OUTDIR/NAME.json and OUTDIR/NAME.tflite, the same int8 network as a TFLite
flatbuffer that the TFLM interpreter runs (no TensorFlow needed; the schema module comes with the
`tflite-micro` wheel: pip install tflite-micro).

The graph is FULLY_CONNECTED (int8, per-channel symmetric weights, int32 bias, fused RELU / NONE) per layer,
with LOGISTIC / TANH (int8) after the layers of those activations.
Its input is the int8 features x_q that NAME_quantize_input writes (tinygen quantizes each feature with its
own scale and zero point, which one TFLite tensor cannot hold): the input tensor has scale 1 and zero point 0,
the per-feature scales are folded into the first layer's weight scales and the zero points into its bias.
TFLM derives each layer's multiplier and shift from the tensors' float32 scales exactly as the manifest's
(multiplier, shift); its int8 output tensor is NAME_scores (tests/test_tflite.py: 0 mismatches).
"""
from __future__ import annotations

import numpy as np

from ..errors import TinygenError
from .common import Package


def _schema():
    try:
        import flatbuffers
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    except ImportError:
        raise TinygenError("--format tflite needs the tflite-micro package (pip install tflite-micro)") from None
    return flatbuffers, schema


def check_name(name: str) -> str:
    return name


def to_tflite(program, batch: int = 1, input_quantization: tuple[float, int] = (1.0, 0)) -> bytes:
    """The flatbuffer of an int8 program's layers, input [batch, n_features] int8. The input tensor's
    (scale, zero point) is (1, 0) for a program's x_q (tests pass others to run one activation alone)."""
    if program.dtype != "int8":
        raise TinygenError(f"--format tflite exports dtype int8 models (this one is {program.dtype}); use --dtype int8")
    flatbuffers, schema = _schema()
    graph = _Graph(schema)
    current = graph.tensor("x_q", (batch, program.n_features), schema.TensorType.INT8,
                           graph.quantization([input_quantization[0]], [input_quantization[1]]))
    graph.subgraph.inputs = [current]
    for k, op in enumerate(program.ops[1:]):
        if op.op == "int8_activation":
            current = _activation(graph, op, k, current, batch)
        elif op.op == "fully_connected":
            current = _fully_connected(graph, op, k, current, batch)
        else:
            raise TinygenError(f"--format tflite cannot express op {op.op}")
    graph.subgraph.outputs = [current]
    graph.subgraph.name = "main"
    graph.model.subgraphs = [graph.subgraph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(graph.model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class _Graph:
    """A TFLite model of one subgraph, being built: its tensors (with their data buffers) and operators."""

    def __init__(self, schema):
        self.schema = schema
        self.model = schema.ModelT()
        self.model.version = 3
        self.model.description = "tinygen int8"
        self.model.buffers = [schema.BufferT()]  # buffer 0: the empty one
        self.model.operatorCodes = []
        self.subgraph = schema.SubGraphT()
        self.subgraph.tensors, self.subgraph.operators = [], []
        self.codes: dict[int, int] = {}  # builtin operator -> its index in model.operatorCodes

    def quantization(self, scales, zero_points, dim=0):
        q = self.schema.QuantizationParametersT()
        q.scale = [float(np.float32(s)) for s in scales]
        q.zeroPoint = [int(z) for z in zero_points]
        q.quantizedDimension = dim
        return q

    def tensor(self, name, shape, ttype, q, data=None) -> int:
        """A new tensor (with `data` in a buffer of its own, little-endian); its index."""
        t = self.schema.TensorT()
        t.name, t.shape, t.type, t.quantization = name, list(shape), ttype, q
        t.buffer = 0
        if data is not None:
            buf = self.schema.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes(), dtype=np.uint8)
            self.model.buffers.append(buf)
            t.buffer = len(self.model.buffers) - 1
        self.subgraph.tensors.append(t)
        return len(self.subgraph.tensors) - 1

    def operator(self, builtin: int, inputs: list[int], outputs: list[int]):
        """A new operator of the builtin kind (its operator code added on first use), appended to the subgraph."""
        if builtin not in self.codes:
            code = self.schema.OperatorCodeT()
            code.builtinCode = code.deprecatedBuiltinCode = builtin
            code.version = 1
            self.model.operatorCodes.append(code)
            self.codes[builtin] = len(self.model.operatorCodes) - 1
        operator = self.schema.OperatorT()
        operator.opcodeIndex = self.codes[builtin]
        operator.inputs, operator.outputs = inputs, outputs
        self.subgraph.operators.append(operator)
        return operator


def _activation(graph: _Graph, op, k: int, current: int, batch: int) -> int:
    """LOGISTIC or TANH (int8) of tensor `current`; its output tensor."""
    schema = graph.schema
    out = graph.tensor(f"a{k}", (batch, op.n_out), schema.TensorType.INT8,
                       graph.quantization([op.out_scale], [op.out_zero_point]))
    graph.operator(schema.BuiltinOperator.LOGISTIC if op.kind == "logistic" else schema.BuiltinOperator.TANH,
                   [current], [out])
    return out


def _fully_connected(graph: _Graph, op, k: int, current: int, batch: int) -> int:
    """FULLY_CONNECTED (int8 per-channel weights, int32 bias, RELU or no activation fused) of tensor `current`;
    its output tensor."""
    schema = graph.schema
    weights = graph.tensor(f"w{k}", (op.n_out, op.n_in), schema.TensorType.INT8,
                           graph.quantization(op.w_scale, [0] * op.n_out), np.asarray(op.weights, dtype=np.int8))
    bias_scales = [float(np.float32(op.in_scale)) * float(np.float32(s)) for s in op.w_scale]
    bias = graph.tensor(f"b{k}", (op.n_out,), schema.TensorType.INT32, graph.quantization(bias_scales, [0] * op.n_out),
                        np.asarray(op.bias, dtype=np.int32))
    out = graph.tensor(f"y{k}", (batch, op.n_out), schema.TensorType.INT8,
                       graph.quantization([op.out_scale], [op.out_zero_point]))
    options = schema.FullyConnectedOptionsT()
    options.fusedActivationFunction = (schema.ActivationFunctionType.RELU if op.activation == "relu"
                                       else schema.ActivationFunctionType.NONE)
    options.keepNumDims = False
    operator = graph.operator(schema.BuiltinOperator.FULLY_CONNECTED, [current, weights, bias], [out])
    operator.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
    operator.builtinOptions = options
    return out


def package(model, name: str, context: dict, header: str, manifest: str) -> Package:
    return Package(kind="file", path=f"{name}.tflite", files={f"{name}.tflite": to_tflite(model.program)})
