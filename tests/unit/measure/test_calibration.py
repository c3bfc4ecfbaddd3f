"""common.measure.calibration: the verdict of ours against vllm bench."""
from common.measure.calibration import calibration_verdict


def test_calibration_verdict():
    assert "indistinguishable from vllm bench" in calibration_verdict(0.99, 0.95, 1.02, 3, 3)
    v = calibration_verdict(0.93, 0.90, 0.96, 3, 3)
    assert "below vllm bench, by at least 4.0 %" in v and "[0.900, 0.960]" in v
    assert "above vllm bench, by at least 2.0 %" in calibration_verdict(1.05, 1.02, 1.08, 3, 3)
