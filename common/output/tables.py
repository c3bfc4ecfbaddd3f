"""Printing: the table every script ends with, and number formatting for it."""

from __future__ import annotations


def num(v, nd: int = 1):
    """A table cell's number: '-' for none, else rounded to `nd` decimals (an int at nd=0)."""
    if v is None:
        return "-"
    return int(round(v)) if nd == 0 else round(v, nd)


def rate(v: float | None) -> str:
    """A request rate to 3 significant digits, never in exponent notation (1,120, not 1.12e+03); '-' for none."""
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def pct(v, nd: int = 0) -> str:
    """A share as '53%', or '-' for none."""
    return "-" if v is None else f"{v * 100:.{nd}f}%"


def fmt_mib(mib: float | None) -> str:
    if mib is None:
        return "-"
    return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.1f} MiB"


def fmt_bytes(n: float | None) -> str:
    return "-" if n is None else fmt_mib(n / 2**20)


def table_text(rows: list[dict]) -> str:
    """Rows of dicts -> aligned plain-text table (missing cells blank)."""
    import pandas as pd

    if not rows:
        return "(no rows)"
    cols = list(dict.fromkeys(c for r in rows for c in r))
    df = pd.DataFrame(
        [{c: ("" if r.get(c) is None else r.get(c, "")) for c in cols} for r in rows], columns=cols, dtype=object
    )
    for c in cols:  # free text (a verdict, a reason) reads left-aligned; numbers and short labels stay right-aligned
        vals = [v for v in df[c] if isinstance(v, str)]
        if any(" " in v and len(v) > 24 for v in vals):
            w = max([len(str(c))] + [len(str(v)) for v in df[c]])
            df[c] = [str(v).ljust(w) for v in df[c]]
            df = df.rename(columns={c: str(c).ljust(w)})
    return "\n".join(line.rstrip() for line in df.to_string(index=False).splitlines())


def print_table(rows: list[dict], takeaway: str | None = None, title: str | None = None) -> str:
    text = ("\n" + title + "\n" if title else "\n") + table_text(rows)
    if takeaway:
        text += "\n" + takeaway
    print(text, flush=True)
    return text
