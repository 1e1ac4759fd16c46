"""Typed program -> one C header, through the Jinja2 templates in templates/c/.

This module turns IR values into C spellings (types, literals, escaped strings and comments) and hands
them to the templates; the templates hold all the C. Anything a user typed (names, labels, feature names)
reaches the C only through c_identifier checks, c_string or c_comment.
"""
from __future__ import annotations

import keyword
import re
from pathlib import Path

import jinja2
import numpy as np

from . import c_primitives
from .version import __version__
from .errors import TinygenError
from .ir import Program
from .ops.types import BITS, is_float, type_range
from .targets.toolchain import package_root

C_TYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t", "float32": "float",
           "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t"}

C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned
void volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert
_Thread_local alignas alignof and and_eq asm bitand bitor bool catch char16_t char32_t class compl constexpr
const_cast decltype delete dynamic_cast explicit export false friend mutable namespace new noexcept not
not_eq nullptr operator or or_eq private protected public reinterpret_cast static_assert static_cast
template this thread_local throw true try typeid typename using virtual wchar_t xor xor_eq""".split())
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")


def _name_problem(name: str) -> str | None:
    """Why `name` cannot prefix the header's C identifiers, or None."""
    if not NAME_PATTERN.fullmatch(name or ""):
        return "use 1-48 ASCII letters, digits and underscores, starting with a letter"
    if "__" in name:
        return "double underscores are reserved in C and C++"
    if name in C_KEYWORDS or keyword.iskeyword(name):
        return "it is a C/C++ keyword"
    return None


def check_name(name: str) -> str:
    """Refuse (never silently change) a model name the user gave that is not a safe C identifier prefix."""
    problem = _name_problem(name)
    if problem:
        raise TinygenError(f"name {name!r} is not a valid C identifier ({problem}); try --name {suggest_name(name)}")
    return name


def suggest_name(text: str) -> str:
    """A valid name derived from any text (used for defaults, e.g. the model file's stem)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(text))
    name = re.sub(r"_+", "_", name).strip("_") or "model"
    if not name[0].isalpha():
        name = "m_" + name
    name = name[:48].rstrip("_")
    return name + "_model" if _name_problem(name) else name  # a keyword (C, C++ or Python), as check_name refuses


def c_string(text) -> str:
    """A C string literal holding `text` (UTF-8) exactly: printable ASCII except \\ " ? as is, every other
    byte as a three-digit octal escape (so no following digit can extend it, and no ??x trigraph forms)."""
    out = []
    for byte in str(text).encode("utf-8"):
        char = chr(byte)
        if 0x20 <= byte < 0x7F and char not in '\\"?':
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_comment(text, limit: int = 80) -> str:
    """Text safe inside a /* */ comment on one line: printable ASCII only, no */ or /* or ?? or \\."""
    safe = "".join(c if 0x20 <= ord(c) < 0x7F and c not in "\\" else "?" for c in str(text))
    safe = safe.replace("*/", "*?").replace("/*", "?*").replace("??", "?_")
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def c_int(value: int, type_name: str) -> str:
    """An integer literal for a value of this C type. int is 16 bits on AVR, so a value beyond int16's range
    is spelled as its own type: INT32_C / INT64_C for signed types, UINT32_C for uint32_t and the suffix u for
    uint16_t (an unsigned int holds it); the most negative value has no literal of its own: -MAX - 1."""
    value = int(value)
    bits = BITS[type_name]
    unsigned = type_name.startswith("uint")
    lo, hi = type_range(type_name)
    if not lo <= value <= hi:
        raise ValueError(f"{value} does not fit {type_name}")
    if unsigned:
        return str(value) if value <= 32767 else f"{value}u" if bits == 16 else f"UINT{bits}_C({value})"
    wrap = f"INT{bits}_C({{}})" if bits > 16 and abs(value) > 32767 else "{}"
    if value == lo:
        return "(-" + wrap.format(-value - 1) + " - 1)"
    return wrap.format(value)


def c_float(value) -> str:
    """A float32 as a decimal literal that parses back to the same float32 (shortest round trip)."""
    text = np.format_float_scientific(np.float32(value), unique=True, trim="0")
    return text + "f"


def c_array(values, type_name: str, per_line: int = 10, indent: str = "    ") -> str:
    fmt = c_float if is_float(type_name) else (lambda v: c_int(v, type_name))
    flat = [fmt(v) for v in np.asarray(values).reshape(-1)]
    lines = [indent + ", ".join(flat[i:i + per_line]) for i in range(0, len(flat), per_line)]
    return ",\n".join(lines)


def template_dir() -> Path:
    return package_root("templates")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir())), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters.update(c_string=c_string, c_comment=c_comment, c_array=c_array, c_int=c_int, c_float=c_float,
                       ctype=C_TYPES.__getitem__, reader=c_primitives.reader, bits_of=BITS.__getitem__,
                       c_min=lambda t: c_int(type_range(t)[0], t), c_max=lambda t: c_int(type_range(t)[1], t))
    env.globals["inf"] = float("inf")
    return env


def op_context(name: str, index: int, op) -> dict:
    """What an op's template needs: the op itself, its C function name and its template."""
    return {"op": op, "fn": f"{name}_{op.op}_{index}", "template": f"c/{op.op}.c.j2"}


def header_helpers(program: Program) -> tuple[list[str], list[str]]:
    """(macros, primitives) the header's C calls: what each op's template calls (its c_helpers) and the header's
    own (the class-name table in flash), with everything those call in turn."""
    helpers = ["ROM", "rd_ptr"] if program.task == "classification" else []
    for op in [*program.ops, *program.heads]:
        helpers += op.c_helpers()
    return c_primitives.closure(helpers)


def render_primitives(name: str, helpers) -> str:
    """The C of the named primitives and macros with everything they call (macros first), without the header
    around them (the includer brings <stdint.h>): what tests compile to hold each primitive to its Python twin."""
    check_name(name)
    macros, primitives = c_primitives.closure(helpers)
    env = environment()
    parts = [env.get_template("c/fixedpoint/base.h.j2").render(n=name, macros=macros)] if macros else []
    parts += [env.get_template(f"c/fixedpoint/{primitive}.h.j2").render(n=name) for primitive in primitives]
    return "\n".join(parts)


def render_feature_op(name: str, op) -> str:
    """The C of one window-feature op (templates/c/features/<op>.c.j2: NAME_<op>(x, channel, out)) after the
    primitives and macros it calls, without the header around it: what the feature ops' unit tests compile."""
    template = environment().get_template(f"c/features/{op.op}.c.j2")
    return render_primitives(name, op.c_helpers()) + "\n\n" + template.render(n=name, fn=f"{name}_{op.op}", op=op)


def api_ranges(program: Program) -> dict[str, str]:
    """The value range of each argument of the public NAME_ functions, for their one-line @param comments (the
    CMSIS-NN manner): what the C accepts and what it proves it writes."""
    last, first = program.ops[-1], program.ops[0]
    if program.is_fixed:
        lo, hi = first.out_format().range
        nan = "the feature's zero point" if first.op == "quantize_affine" else "0"
        x = f"any float32: NaN gives {nan}, values beyond the feature's format saturate"
        ranges = {"x_q": f"{first.out_type} in [{lo}, {hi}]"}
    else:
        ranges = {}
        x = "any float32, NaN and +-inf included (scikit-learn's branch for each)" if last.op == "tree_ensemble" else \
            "any float32 (IEEE float32 arithmetic, as the simulator)"
    bounds = last.out_bounds()
    ranges.update(x=x, out=f"{last.out_type} in [{bounds[0]}, {bounds[1]}] (proven)" if bounds else "float32")
    if program.task == "classification":
        ranges["prediction"] = "class index in [0, NAME_N_CLASSES)"
    else:
        ranges["prediction"] = "the predicted value" + (" (float, dequantized)" if program.output_scale is not None else "")
    return ranges


def feature_lines(program: Program, width: int = 112) -> list[str]:
    """The header's feature list, x[i] and its name, packed into comment lines of at most `width` characters
    (a name cut at 60); features below the input's resolution are marked, as the manifest lists them."""
    ignored = {feature["index"] for feature in program.ignored_features}
    entries = [f"x[{i}] {c_comment(name, 60)}" + (" (read but ignored: below its resolution)" if i in ignored else "")
               for i, name in enumerate(program.feature_names)]
    lines = [""]
    for entry in entries:
        if lines[-1] and len(lines[-1]) + len(entry) + 2 > width:
            lines[-1] += ","
            lines.append("")
        lines[-1] += (", " if lines[-1] else "") + entry
    return lines


def training_prefix(name: str, frozen: list[dict], n_features: int, source: str) -> dict:
    """The frozen ops between the input conversion and a trainable op (`frozen`, their op contexts) as the calls the
    training API makes on int16 stack buffers, from float features (source "x": the conversion writes the first
    buffer) or from the caller's quantized ones ("x_q", read only). An elementwise op writes in place, any other
    the other buffer, so there are at most two, each sized by the largest intermediate it holds. Returns
    {"buffers": [{"name", "size", "holds"}], "calls": [C calls], "z": the buffer the trainable op reads}."""
    sizes, holds, calls = {}, {}, []
    current = "x_q"
    if source == "x":
        current, sizes["z"], holds["z"] = "z", n_features, ["x_q"]
        calls.append(f"{name}_quantize_input(x, z)")
    for ctx in frozen:
        op = ctx["op"]
        if op.out_type != "int16":
            raise TinygenError(f"the training API passes int16 activations; {op.op} writes {op.out_type}")
        dst = current if op.elementwise and current != "x_q" else ("h" if current == "z" else "z")
        calls.append(f"{ctx['fn']}({current}, {dst})")
        sizes[dst] = max(sizes.get(dst, 0), op.n_out)
        holds.setdefault(dst, []).append(f"{op.op}'s output" + (" in place" if dst == current else ""))
        current = dst
    buffers = [{"name": buffer, "size": f"{name}_N_FEATURES" if size == n_features else str(size),
                "holds": ", then ".join(holds[buffer])} for buffer, size in sizes.items()]
    return {"buffers": buffers, "calls": calls, "z": current}


def training_context(name: str, program: Program, ops: list[dict]) -> dict | None:
    """A trainable program's training API: the learning op, its C name and its frozen prefix from float and from
    quantized features (training_prefix); None for other programs."""
    index = next((i for i, ctx in enumerate(ops) if ctx["op"].trains), None)
    if index is None:
        return None
    frozen = [ctx for ctx in ops[1:index] if not ctx["op"].passthrough]
    return {"op": ops[index]["op"], "fn": ops[index]["fn"],
            "from_x": training_prefix(name, frozen, program.n_features, "x"),
            "from_q": training_prefix(name, frozen, program.n_features, "x_q")}


def render_header(program: Program, name: str, manifest_sha256: str = "0" * 64) -> str:
    """The header text; manifest_sha256 goes on its digest line (digests.py: zeros until sealed)."""
    check_name(name)
    if program.dtype == "float":
        raise TinygenError("quantize the float program first (dtype float32, q31, q15 or q7)")
    ops = [op_context(name, i, op) for i, op in enumerate(program.ops)]
    body = ops[1:] if program.is_fixed else ops
    # The chain of ops after the input conversion: op k reads buffer k and writes buffer k+1; the first
    # reads the (quantized) input and the last writes the caller's score array.
    body = [ctx for ctx in body if not ctx["op"].passthrough]  # e.g. order_keys on raw bits
    # A window program's feature op reads a ring of frames (the stream's, or the caller's window at frame 0).
    window = body[0]["op"] if body and body[0]["op"].streams else None
    chain = []
    for k, ctx in enumerate(body):
        src = "x_q" if program.is_fixed and k == 0 else ("x" if k == 0 else f"h{k}")
        dst = "out" if k == len(body) - 1 else f"h{k + 1}"
        call = f"{ctx['fn']}_from(ring, start, {dst})" if window is not None and k == 0 else f"{ctx['fn']}({src}, {dst})"
        chain.append({"call": call, "dst": dst, "out_type": ctx["op"].out_type, "n_out": ctx["op"].n_out})
    macros, primitives = header_helpers(program)
    context = {
        "name": name,
        "guard": f"TINYGEN_{name.upper()}_H",
        "version": __version__,
        "manifest_sha256": manifest_sha256,
        "program": program,
        "macros": macros,
        "primitives": primitives,
        "ops": ops,
        "chain": chain,
        "score_type": program.ops[-1].out_type,
        "input_type": program.ops[0].out_type if program.is_fixed else "float32",
        "labels": [str(v) for v in (program.labels or [])],
        "output_scale": program.output_scale,
        "anomaly": program.anomaly_score_op,  # IsolationForest: score_samples / decision_function in C
        "proba": program.proba,  # fixed-point classifiers with logit scores: predict_proba in Q15
        "ranges": {key: text.replace("NAME_", name + "_") for key, text in api_ranges(program).items()},
        "feature_lines": feature_lines(program),
        "window": window,  # window programs: NAME_WINDOW, NAME_predict_window, the stream API
        "trainable": training_context(name, program, ops),  # trainable programs: the training API
    }
    return environment().get_template("c/header.h.j2").render(**context)
