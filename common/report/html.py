"""report.html beside report.md: the same Markdown rendered to HTML (markdown-it, tables on), every plot embedded
as a data URI and the style inline, so the one file opens offline in any browser and fetches nothing."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from common.output.results import atomic_write

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
code, pre { background: #f5f5f5; padding: 0.1em 0.3em; }
"""


def _data_uri(path: Path) -> str:
    kind = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}.get(path.suffix.lower(), "")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def write_html(report_md: Path) -> Path:
    """report.html from report.md (the images it names, read from its folder, embedded); its path."""
    from markdown_it import MarkdownIt

    text = report_md.read_text()
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)

    def embed(m: re.Match) -> str:
        src = report_md.parent / html.unescape(m.group(1))
        return f'<img src="{_data_uri(src)}"' if src.is_file() else m.group(0)

    body = re.sub(r'<img src="([^":]+)"', embed, body)
    title = next((line[2:] for line in text.splitlines() if line.startswith("# ")), "report")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{' '.join(STYLE.split())}</style></head>\n<body>\n{body}</body></html>\n"
    )
    out = report_md.with_suffix(".html")
    atomic_write(out, page)
    return out
