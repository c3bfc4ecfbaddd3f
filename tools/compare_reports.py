"""Do two versions of the code write the same reports? `run_distributed_benchmark.py --from-results` over a copy
of every sample folder (every folder under docs/sample_results/ that holds result JSONs), once with the code at BASE
(a git revision, checked out in a temporary worktree) and once with this tree; the printed output and each
report.md compared after masking what differs by nature (temporary paths, the git sha, the report's date).

    python tools/compare_reports.py --base 3da3968          # prints one line per folder, then "N of M matched"
    python tools/compare_reports.py --base 3da3968 --diff   # and the first differing lines of each mismatch

Exit status: 0 when every folder matched, 1 otherwise, 2 for bad input. No engine starts: reports only.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "docs" / "sample_results"
MASKS = [
    (re.compile(r"/tmp/[^\s)\]'\"]*"), "<tmp>"),
    (re.compile(r"\b[0-9a-f]{40}\b|\b(?=[0-9a-f]*[a-f])[0-9a-f]{7,12}\b"), "<sha>"),  # a short sha has a letter
    (re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?( UTC)?"), "<time>"),
    (re.compile(r"written in [\d.]+ s"), "written in <s>"),
]


def sample_folders() -> list[Path]:
    """Every folder under docs/sample_results/ with result JSONs of its own (not counting its subfolders')."""
    return sorted({p.parent for p in SAMPLES.rglob("*.json")})


def masked(text: str) -> str:
    for pattern, repl in MASKS:
        text = pattern.sub(repl, text)
    return text


def report_of(code: Path, folder: Path, work: Path) -> str:
    """The printed output and report.md of `--from-results` run by the code in `code` over a copy of `folder`."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(folder, work, ignore=shutil.ignore_patterns("*.png", "report*.md"))
    r = subprocess.run(
        [sys.executable, str(code / "run_distributed_benchmark.py"), "--from-results", str(work)],
        cwd=str(code), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = work / "report.md"
    out = f"exit {r.returncode}\n{r.stdout}\n{r.stderr}\n" + (
        report.read_text() if report.exists() else "(no report.md)\n"
    )
    return masked(out.replace(str(work), "<dir>"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="the git revision whose reports are the reference")
    p.add_argument("--diff", action="store_true", help="print the first differing lines of each mismatch")
    a = p.parse_args(argv)
    if subprocess.run(["git", "rev-parse", "--verify", "-q", a.base], cwd=ROOT, capture_output=True).returncode:
        print(f"error: --base {a.base}: no such git revision", file=sys.stderr)
        return 2
    folders = sample_folders()
    matched = 0
    with tempfile.TemporaryDirectory(prefix="cmp-reports-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(base), a.base], cwd=ROOT, check=True)
        try:
            for i, folder in enumerate(folders, 1):
                name = folder.relative_to(SAMPLES)
                old = report_of(base, folder, Path(tmp) / "run")
                new = report_of(ROOT, folder, Path(tmp) / "run")
                same = old == new
                matched += same
                what = "nothing to report" if "(no report.md)" in new else f"report.md of {new.count(chr(10))} lines"
                print(f"[{i}/{len(folders)}] {'same' if same else 'DIFFERS'}  {name} ({what})", flush=True)
                if not same and a.diff:
                    d = difflib.unified_diff(old.splitlines(), new.splitlines(), "base", "this tree", lineterm="", n=1)
                    print("\n".join(list(d)[:40]))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT)
    print(f"{matched} of {len(folders)} sample folders gave the same report and printed output")
    return 0 if matched == len(folders) else 1


if __name__ == "__main__":
    sys.exit(main())
