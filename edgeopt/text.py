"""Plain-text tables and number formats: the one renderer behind ``show``, ``solve`` and ``compare`` output."""
from __future__ import annotations

import math
from typing import Sequence


def number(value: float | None, digits: int = 10) -> str:
    """A number with ``digits`` significant digits; "-" for a missing or non-finite one."""
    if value is None:
        return "-"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{v:.{digits}g}" if math.isfinite(v) else "-"


def percent(value: float | None, digits: int = 4) -> str:
    """A relative value as a percentage; "-" for a missing or non-finite one."""
    v = None if value is None else float(value)
    return "-" if v is None or not math.isfinite(v) else f"{100 * v:.{digits}g}%"


def table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "", rule: bool = True) -> str:
    """Columns padded to their widest cell; ``align`` holds 'l' or 'r' per column (default 'l')."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    align = align.ljust(len(header), "l")
    lines = []
    for row in cells:
        parts = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)]
        lines.append("  ".join(parts).rstrip())
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, object]]) -> str:
    """``label  value`` lines with the labels padded to one width (the head of ``show`` and ``solve``)."""
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k:<{max(width, 11)}} {v}" for k, v in pairs)
