"""common.output.tables: the terminal tables."""


def test_table_left_aligns_free_text_and_keeps_numbers_right():
    from common.output.tables import table_text

    lines = table_text(
        [
            {"rate": 3.2, "verdict": "pass"},
            {"rate": 104, "verdict": "FAIL (p99 TTFT over 500 ms for sure: 30 of the 2050)"},
        ]
    ).splitlines()
    assert lines[0].split() == ["rate", "verdict"]
    col = lines[0].index("verdict")  # every verdict starts under its header
    assert lines[1][col:] == "pass" and lines[2][col:].startswith("FAIL (p99")
    assert lines[1].index("3.2") > lines[2].index("104") - 1  # numbers right-aligned
    assert all(line == line.rstrip() for line in lines)
