"""What a generated header defines and what of it the public API reaches: the unused-code checks of
tests/test_compilers.py. `static inline` keeps gcc's -Wunused-function quiet, so the header's text is read
here: every static function, static table and macro must be reached from the API (the NAME_ symbols its
leading comment names) through the code, comments aside; and plain_static_unit() gives a translation unit
in which gcc's own unused warnings can speak."""
from __future__ import annotations

import re

COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
FUNCTION = re.compile(r"^static\b[^;={}]*?\b(?!__attribute__\b)(\w+)\s*\([^;{}]*\)\s*\{", re.M)  # past GCC attributes
TABLE = re.compile(r"^static\s+const\b[^;{(]*?\b(\w+)\s*\[[^\]]*\][^;]*?=", re.M)
MACRO = re.compile(r"^#define\s+(\w+)", re.M)


def strip_comments(text: str) -> str:
    return COMMENT.sub(" ", text)


def api_names(text: str, name: str) -> set[str]:
    """The NAME_ symbols the header's leading comment (its API summary) names."""
    return set(re.findall(rf"\b{name}_\w+", COMMENT.search(text).group(0)))


def definitions(code: str) -> tuple[dict[str, str], str]:
    """(symbol -> the code that defines it, the code outside every definition): a function runs to its closing
    brace in column 0, a table to its semicolon, a macro is its #define line (both its AVR and host spellings)."""
    bodies, spans = {}, []
    for pattern, close in ((FUNCTION, "\n}"), (TABLE, ";")):
        for m in pattern.finditer(code):
            end = code.index(close, m.end()) + len(close)
            bodies[m.group(1)] = code[m.start():end]
            spans.append((m.start(), end))
    for m in MACRO.finditer(code):
        end = code.find("\n", m.start())
        bodies[m.group(1)] = bodies.get(m.group(1), "") + "\n" + code[m.start():end]
        spans.append((m.start(), end))
    outside, at = [], 0
    for start, end in sorted(spans):
        outside.append(code[at:start])
        at = max(at, end)
    return bodies, "".join(outside) + code[at:]


def unused(text: str, name: str) -> list[str]:
    """The header's functions, tables and macros (the include guard aside) that the API does not reach."""
    bodies, outside = definitions(strip_comments(text))
    bodies.pop(f"TINYGEN_{name.upper()}_H", None)
    words = {symbol: set(re.findall(r"\w+", body)) for symbol, body in bodies.items()}
    # the API, and what the code outside every definition names (the typedefs of the score and input types)
    todo = [s for s in api_names(text, name) | set(re.findall(r"\w+", outside)) if s in bodies]
    reached = set()
    while todo:
        symbol = todo.pop()
        if symbol not in reached:
            reached.add(symbol)
            todo += [s for s in words[symbol] if s in bodies and s not in reached]
    return sorted(set(bodies) - reached)


def plain_static_unit(text: str, name: str) -> str:
    """The header as a .c file with every `static inline` made `static`, plus an exported function that
    takes every API function and macro: gcc's -Wunused-function, -Wunused-const-variable and -Wunused-macros
    then report anything else left unused."""
    code = strip_comments(text)
    used = sorted(s for s in api_names(text, name) if s in definitions(code)[0])
    uses = "".join(f"    (void){symbol};\n" for symbol in used)
    guard = f"TINYGEN_{name.upper()}_H"
    return (text.replace("static inline", "static") + f"\n#ifndef {guard}\n#error the include guard\n#endif\n"
            f"void {name}_use_api(void);\nvoid {name}_use_api(void)\n{{\n{uses}}}\n")
