"""Q4 hidden checks on hand-made submissions."""

import pytest

from grader.judge.exported_answers import ExportedAnswers
from grader.judge.hidden_tests import possible_points
from testsuite.helpers import export_in_process, hidden_tests, judged_feedback, question_module
from testsuite.notebook_code import MASTER_NOTEBOOK, same_class

q4 = question_module("q4")

REFERENCE = {
    "q4_1_kernel_1": [229, 229],
    "q4_1_kernel_2": [229, 229],
    "q4_2_kernel_1": [40, 40],
    "q4_2_kernel_2": [40, 40],
    "q4_3_shapes": [[28, 28], [256, 256]],
    "q4_4_shapes": [[29, 29], [264, 264]],
}
CHECKS = [q4.check_part_1, q4.check_part_2, q4.check_part_3, q4.check_part_4]


def submission(**changes) -> ExportedAnswers:
    return ExportedAnswers(values=REFERENCE | changes)


def test_trusted_younet_is_the_given_one() -> None:
    assert same_class(MASTER_NOTEBOOK, q4.YouNet)


@pytest.mark.parametrize("check", CHECKS)
def test_reference_passes(check) -> None:
    check(submission())


@pytest.mark.parametrize("kernel_1", [[33, 33], [36, 40], [40, 33]])
def test_every_valid_stride_8_kernel_1_passes(kernel_1) -> None:
    shapes_257 = [list(s) for s in q4.spatial_shapes(kernel_1, [40, 40], 8, 257)]
    shapes_264 = [list(s) for s in q4.spatial_shapes(kernel_1, [40, 40], 8, 264)]
    answer = submission(q4_2_kernel_1=kernel_1, q4_3_shapes=shapes_257, q4_4_shapes=shapes_264)
    for check in CHECKS:
        check(answer)


def test_kernel_2_of_39_loses_part_2() -> None:
    with pytest.raises(AssertionError, match="part 2"):
        q4.check_part_2(submission(q4_2_kernel_2=[39, 39]))


@pytest.mark.parametrize("kernel", [[41, 41], [32, 32]])
def test_wrong_stride_8_kernel_1_loses_part_2(kernel) -> None:
    with pytest.raises(AssertionError):
        q4.check_part_2(submission(q4_2_kernel_1=kernel))


@pytest.mark.parametrize("kernel", [[228, 228], [229, 230], [230, 229]])
def test_only_229_passes_part_1(kernel) -> None:
    with pytest.raises(AssertionError):
        q4.check_part_1(submission(q4_1_kernel_2=kernel))


@pytest.mark.parametrize(
    "bad", [[40.0, 40.0], [40], "40", [True, True], [0, 0], None, [40, 40, 40]]
)
def test_kernels_must_be_int_pairs(bad) -> None:
    with pytest.raises(AssertionError, match="tuple of positive ints"):
        q4.check_part_2(submission(q4_2_kernel_1=bad))


def test_stated_shapes_must_match_own_network() -> None:
    with pytest.raises(AssertionError, match="part 3"):
        q4.check_part_3(submission(q4_3_shapes=[[28, 28], [257, 257]]))
    with pytest.raises(AssertionError, match="part 4"):
        q4.check_part_4(submission(q4_4_shapes=[[28, 28], [256, 256]]))


def test_missing_answer_is_reported() -> None:
    data = ExportedAnswers(values={}, problems={"q4_3_shapes": "values of type X cannot be graded"})
    with pytest.raises(AssertionError, match="cannot be graded"):
        q4.check_part_3(data)


def test_int_kernels_are_square_kernels_in_every_part(tmp_path) -> None:
    """``kernel_1 = 229`` is PyTorch's shorthand for (229, 229): 2 of 2 (before: 0 of 2)."""
    namespace = {
        "q4_1_kernel_1": 229,
        "q4_1_kernel_2": 229,
        "q4_2_kernel_1": 40,
        "q4_2_kernel_2": 40,
        "q4_3_shapes": ((28, 28), (256, 256)),
        "q4_4_shapes": ((29, 29), (264, 264)),
    }
    points, feedback = judged_feedback(export_in_process(namespace, tmp_path, ["q4"], {}), "q4")
    assert points == possible_points(hidden_tests("q4")), feedback  # every part
    mixed = submission(q4_2_kernel_1=40, q4_2_kernel_2=[40, 40])
    for check in CHECKS:
        check(mixed)
    with pytest.raises(AssertionError, match="part 2: with kernels"):
        q4.check_part_2(submission(q4_2_kernel_1=41))
