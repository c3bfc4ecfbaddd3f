"""common.output.plotting: PNGs whose labels a student reads without the text."""

import re

import pytest


def test_bar_plot_writes_a_png_with_readable_value_labels(tmp_path):
    from common.output import plotting

    assert [plotting._label(v) for v in (31239.4, 4.853, 0.2661, None)] == ["31,239", "4.85", "0.266", "n/a"]
    path = plotting.bar_plot(
        tmp_path / "bars.png",
        ["1 GPU", "DP4"],
        {"out tok/s": [7903.0, 31239.0]},
        title="Throughput per layout",
        ylabel="output tokens / s",
    )
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_wrapped_title_never_parts_a_number_from_its_unit():
    from common.output.plotting import wrap_title

    title = "Capacity under p99 TTFT <= 500 ms, p99 TPOT <= 50 ms at 12.5 req/s on 2 CPU ranks"
    for chars in range(14, len(title)):
        lines = wrap_title(title, chars).split("\n")
        assert len(lines) > 1 and all(len(line) <= chars for line in lines)
        assert not any(
            a[-1].isdigit() and b.split()[0] in ("ms,", "ms", "req/s", "CPU")
            for a, b in zip(lines, lines[1:], strict=False)
        )
        assert " ".join(lines).replace("\u00a0", " ") == title


@pytest.mark.parametrize("lo,hi", [(1150, 1320), (12, 5000)])
def test_a_log_axis_is_labelled_in_plain_numbers_within_a_decade_and_across_many(lo, hi):
    from common.output import plotting

    plt = plotting.pyplot()
    fig, ax = plt.subplots()
    ax.scatter([lo, hi], [1, 2])
    ax.set_xscale("log")
    plotting.readable_log_axis(ax, ax.xaxis)
    fig.canvas.draw()
    shown = [
        t.get_text()
        for t in ax.get_xticklabels(which="both")
        if t.get_text() and lo * 0.9 <= t.get_position()[0] <= hi * 1.1
    ]
    plt.close(fig)
    assert len(shown) >= 2 and all(re.fullmatch(r"[\d,.]+", t) for t in shown), shown
