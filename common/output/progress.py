"""Progress on long work: one line as each of a run's configurations starts, with tqdm's bar, the time elapsed and an
estimate of the time left (the mean time of the finished ones x those left). A line, not a live bar: the engine
child's own lines print between two configurations, and a bar redrawn in place would run into them."""

from __future__ import annotations

import time

from tqdm import tqdm


class Stages:
    """`stages.line("TP2 on 2 device(s) ...")` as each configuration starts: '=== [2/3] TP2 ...  (1/3 |███| 00:35
    elapsed, about 01:10 left)'."""

    def __init__(self, total: int):
        self.total, self.n, self.t0 = total, 0, time.perf_counter()

    def line(self, what: str) -> str:
        elapsed = time.perf_counter() - self.t0
        fmt = "{n_fmt}/{total_fmt} done |{bar:12}| {elapsed} elapsed" + (", about {remaining} left" if self.n else "")
        meter = tqdm.format_meter(self.n, self.total, elapsed, bar_format=fmt)
        self.n += 1
        return f"\n=== [{self.n}/{self.total}] {what}   ({meter})"
