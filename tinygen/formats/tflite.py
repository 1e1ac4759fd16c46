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
    layers = program.ops[1:]
    model = schema.ModelT()
    model.version = 3
    model.description = "tinygen int8"
    model.buffers = [schema.BufferT()]  # buffer 0: the empty one
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.operators = [], []

    def quant(scales, zero_points, dim=0):
        q = schema.QuantizationParametersT()
        q.scale = [float(np.float32(s)) for s in scales]
        q.zeroPoint = [int(z) for z in zero_points]
        q.quantizedDimension = dim
        return q

    def tensor(name, shape, ttype, q, data=None):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.quantization = name, list(shape), ttype, q
        t.buffer = 0
        if data is not None:
            buf = schema.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes(), dtype=np.uint8)
            model.buffers.append(buf)
            t.buffer = len(model.buffers) - 1
        subgraph.tensors.append(t)
        return len(subgraph.tensors) - 1

    current = tensor("x_q", (batch, program.n_features), schema.TensorType.INT8, quant([input_quantization[0]], [input_quantization[1]]))
    subgraph.inputs = [current]
    codes: dict[int, int] = {}

    def opcode(builtin: int) -> int:
        if builtin not in codes:
            code = schema.OperatorCodeT()
            code.builtinCode = code.deprecatedBuiltinCode = builtin
            code.version = 1
            model.operatorCodes.append(code)
            codes[builtin] = len(model.operatorCodes) - 1
        return codes[builtin]

    model.operatorCodes = []
    for k, op in enumerate(layers):
        operator = schema.OperatorT()
        if op.op == "int8_activation":
            out = tensor(f"a{k}", (batch, op.n_out), schema.TensorType.INT8, quant([op.out_scale], [op.out_zero_point]))
            operator.opcodeIndex = opcode(schema.BuiltinOperator.LOGISTIC if op.kind == "logistic" else schema.BuiltinOperator.TANH)
            operator.inputs, operator.outputs = [current], [out]
            subgraph.operators.append(operator)
            current = out
            continue
        if op.op != "fully_connected":
            raise TinygenError(f"--format tflite cannot express op {op.op}")
        weights = tensor(f"w{k}", (op.n_out, op.n_in), schema.TensorType.INT8, quant(op.w_scale, [0] * op.n_out),
                         np.asarray(op.weights, dtype=np.int8))
        bias_scales = [float(np.float32(op.in_scale)) * float(np.float32(s)) for s in op.w_scale]
        bias = tensor(f"b{k}", (op.n_out,), schema.TensorType.INT32, quant(bias_scales, [0] * op.n_out),
                      np.asarray(op.bias, dtype=np.int32))
        out = tensor(f"y{k}", (batch, op.n_out), schema.TensorType.INT8, quant([op.out_scale], [op.out_zero_point]))
        options = schema.FullyConnectedOptionsT()
        options.fusedActivationFunction = (schema.ActivationFunctionType.RELU if op.activation == "relu"
                                           else schema.ActivationFunctionType.NONE)
        options.keepNumDims = False
        operator.opcodeIndex = opcode(schema.BuiltinOperator.FULLY_CONNECTED)
        operator.inputs, operator.outputs = [current, weights, bias], [out]
        operator.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
        operator.builtinOptions = options
        subgraph.operators.append(operator)
        current = out
    subgraph.outputs = [current]
    subgraph.name = "main"
    model.subgraphs = [subgraph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def package(model, name: str, context: dict, header: str, manifest: str) -> Package:
    return Package(kind="file", path=f"{name}.tflite", files={f"{name}.tflite": to_tflite(model.program)})
