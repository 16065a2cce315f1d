"""The C declarations of atomvae's ABI, read from the generated header itself.

cffi cannot run the C preprocessor, so the header (include/atomvae.h, generated
by safer-ffi) is reduced to plain declarations here: conditional blocks are
resolved (``DOXYGEN`` and ``__cplusplus`` are not defined), ``#include`` and
``#define`` lines are dropped. The wheel's build writes the result to
``target/header.h`` for maturin, and the tests compare it with the loaded ABI.
"""

from __future__ import annotations

import re

_DIRECTIVE = re.compile(r"^\s*#\s*(\w+)\s*(\S*)")


def cdef_from_header(text: str) -> str:
    """Declarations of ``text`` (a safer-ffi header) that cffi's ``cdef`` accepts."""
    defined: set[str] = set()
    active: list[bool] = []
    kept: list[str] = []
    for line in text.splitlines():
        match = _DIRECTIVE.match(line)
        if not match:
            if all(active):
                kept.append(line)
            continue
        word, name = match.groups()
        if word == "ifdef":
            active.append(name in defined)
        elif word == "ifndef":
            active.append(name not in defined)
        elif word == "else":
            active[-1] = not active[-1]
        elif word == "endif":
            active.pop()
        elif word == "define" and all(active):
            defined.add(name)
    return "\n".join(kept) + "\n"


def function_names(cdef: str) -> list[str]:
    """Names of the functions declared in ``cdef`` (``atomvae_*``), sorted."""
    return sorted(set(re.findall(r"\b(atomvae_\w+)\s*\(", cdef)))
