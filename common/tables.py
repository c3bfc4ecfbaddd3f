"""Printing: the table every script ends with, and number formatting for it."""
from __future__ import annotations


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
    return pd.DataFrame([{c: ("" if r.get(c) is None else r.get(c, "")) for c in cols} for r in rows],
                        columns=cols, dtype=object).to_string(index=False)


def print_table(rows: list[dict], takeaway: str | None = None, title: str | None = None) -> str:
    text = ("\n" + title + "\n" if title else "\n") + table_text(rows)
    if takeaway:
        text += "\n" + takeaway
    print(text, flush=True)
    return text
