"""The C primitives a header can carry, and what each one calls: a header holds only those its ops use.

Each primitive is one function in templates/c/fixedpoint/<name>.h.j2 (one function per file, as CMSIS-NN's
support functions are), the C twin of the function of the same name in tinygen/fixedpoint.py. The macros
(the flash qualifier NAME_ROM, the table readers NAME_rd_*, and simd32: NAME_SIMD32 where the core has ARMv7E-M's
SIMD instructions, with its two-lane word helpers ld_pair, st_pair, high_halves and sel, each of which brings
simd32) are printed by templates/c/fixedpoint/base.h.j2, only those named; the SIMD32 kernels call GCC's and
clang's __builtin_arm_* themselves, so a header includes no <arm_acle.h>. Every op says which of these its
template calls (`c_helpers()`); `closure` adds what those call in turn, and emit prints the result in
PRIMITIVES' order, which lists every primitive after the primitives it calls.
"""
from __future__ import annotations

MACROS = ("ROM", "rd_i8", "rd_i16", "rd_i32", "rd_i64", "rd_u8", "rd_u16", "rd_u32", "rd_f32", "rd_ptr",
          "OUT_OF_LINE", "ALWAYS_INLINE",  # function attributes on AVR, `inline` elsewhere
          "simd32", "ld_pair", "st_pair", "high_halves", "sel")  # NAME_SIMD32 on ARMv7E-M cores and its word helpers
SIMD32_HELPERS = ("ld_pair", "st_pair", "high_halves", "sel")  # base.h.j2 prints them inside simd32's #if

# name -> the primitives and macros its C calls; a primitive stands after everything it calls
PRIMITIVES: dict[str, tuple[str, ...]] = {
    "bits": (),
    "order_key": (),
    "to_fixed_short": (),
    "to_fixed": ("to_fixed_short",),
    "to_fixed_i16": ("to_fixed_short",),
    "to_fixed_i8": ("ROM", "rd_u8"),  # its table of powers of two is in flash
    "sat_i32": (),
    "sat_i64": (),
    "to_fixed_offset": ("OUT_OF_LINE", "to_fixed_short", "to_fixed", "sat_i32"),
    "to_fixed_offset_i8": ("to_fixed_short", "to_fixed_offset"),
    "round_right_u24": ("ALWAYS_INLINE",),
    "to_fixed_offset_fast": ("ALWAYS_INLINE", "to_fixed_offset", "round_right_u24", "sat_i32"),
    "mul_hi_u32": (),
    "mul_u32_u16_shr": (),
    "mac_i8_i32": ("rd_i8",),
    "mac2_i8": ("rd_i8",),
    "mac_i16_i32": ("rd_i16",),
    "mac_i8_i16": ("rd_i8",),
    "srdhm": (),
    "rdbpot": (),
    "rdbpot_bytes": (),
    "rdbpot_16": (),
    "mbqm": ("srdhm", "rdbpot"),
    "affine_quantize": (),
    "div_q15": (),
    # window statistics (ops/features/statistics.py)
    "isqrt_u64": ("simd32",),
    "div_reciprocal_u32": (),
    # window_fft_bands (ops/features/fft_bands.py)
    "log2_u32": ("ROM", "rd_u16"),  # its table of log2(1 + j/32) is in flash
    "mul_i16_i32": (),
    "mul_i16_u16_i32": (),
    "butterflies_q15": ("ld_pair", "st_pair", "high_halves"),
}

# element type (manifest name) -> the reader macro of a table of that type
READERS = {"int8": "rd_i8", "int16": "rd_i16", "int32": "rd_i32", "int64": "rd_i64", "float32": "rd_f32",
           "uint8": "rd_u8", "uint16": "rd_u16", "uint32": "rd_u32"}


def reader(type_name: str) -> str:
    """The macro that reads one table element of this type (from flash on AVR)."""
    return READERS[type_name]


def closure(helpers) -> tuple[list[str], list[str]]:
    """(macros, primitives) that `helpers` need, each name once: the named ones and everything they call, the
    macros in MACROS' order and the primitives in PRIMITIVES' order (everything a primitive calls before it)."""
    needed: set[str] = set()
    todo = list(helpers)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        if name not in PRIMITIVES and name not in MACROS:
            raise ValueError(f"unknown C helper {name!r}")
        needed.add(name)
        todo.extend(PRIMITIVES.get(name, ()) + (("simd32",) if name in SIMD32_HELPERS else ()))
    return [m for m in MACROS if m in needed], [p for p in PRIMITIVES if p in needed]
