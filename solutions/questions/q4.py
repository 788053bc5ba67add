"""Q4 hidden checks: YouNet kernels and the shapes the student states.

The judge builds its own copy of the given ``YouNet`` (``YouNet`` below, kept identical to the
notebook's class by ``test_q4.py``) from the submitted kernel tuples, so the shapes are computed
here, never taken from the student's kernel.
"""

import torch

VALUES = [
    "q4_1_kernel_1",
    "q4_1_kernel_2",
    "q4_2_kernel_1",
    "q4_2_kernel_2",
    "q4_3_shapes",
    "q4_4_shapes",
]
MODELS: list[str] = []
FILES: list[str] = []

MAX_KERNEL = 1024  # keeps the judge's convolutions small


class YouNet(torch.nn.Module):
    """Conv2d from 256x256 down to 28x28, then ConvTranspose2d back up."""

    def __init__(self, kernel_1, kernel_2, stride_1=(1, 1), stride_2=(1, 1)):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 1, kernel_1, stride=stride_1)
        self.conv2 = torch.nn.ConvTranspose2d(1, 1, kernel_2, stride=stride_2)

    def forward(self, x):
        mnist = self.conv1(x)
        imagenet = self.conv2(mnist)
        return mnist, imagenet


def _kernel(submission, name: str) -> tuple[int, int]:
    """A (height, width) pair of positive ints; an int k is PyTorch's shorthand for (k, k)."""
    value = submission.value(name)
    if type(value) is int:
        value = [value, value]
    valid = (
        isinstance(value, list)
        and len(value) == 2
        and all(type(side) is int and 1 <= side <= MAX_KERNEL for side in value)
    )
    assert valid, (
        f"`{name}` must be a (height, width) tuple of positive ints (or one int), got {value!r}"
    )
    return value[0], value[1]


def spatial_shapes(kernel_1, kernel_2, stride: int, side: int) -> tuple[tuple[int, ...], ...]:
    """Spatial (mnist, imagenet) shapes of the trusted YouNet for one side x side input."""
    net = YouNet(kernel_1, kernel_2, (stride, stride), (stride, stride))
    with torch.no_grad():
        try:
            mnist, imagenet = net(torch.zeros(1, 1, side, side))
        except RuntimeError as error:
            raise AssertionError(f"YouNet cannot run on a {side}x{side} input: {error}") from error
    return tuple(mnist.shape[-2:]), tuple(imagenet.shape[-2:])


def _check_round_trip(submission, part: int, stride: int) -> None:
    kernel_1 = _kernel(submission, f"q4_{part}_kernel_1")
    kernel_2 = _kernel(submission, f"q4_{part}_kernel_2")
    mnist, imagenet = spatial_shapes(kernel_1, kernel_2, stride, 256)
    assert (mnist, imagenet) == ((28, 28), (256, 256)), (
        f"part {part}: with kernels {kernel_1} and {kernel_2} and stride {stride}, 256x256 becomes "
        f"{mnist} and then {imagenet}, not (28, 28) and (256, 256)"
    )


def check_part_1(submission) -> None:
    """Stride 1: the kernels map 256 -> 28 -> 256."""
    _check_round_trip(submission, 1, stride=1)


def check_part_2(submission) -> None:
    """Stride 8: the kernels map 256 -> 28 -> 256."""
    _check_round_trip(submission, 2, stride=8)


def _check_stated_shapes(submission, part: int, side: int) -> None:
    stated = submission.value(f"q4_{part}_shapes")
    actual = spatial_shapes(
        _kernel(submission, "q4_2_kernel_1"), _kernel(submission, "q4_2_kernel_2"), 8, side
    )
    assert stated == [list(shape) for shape in actual], (
        f"part {part}: you state {stated!r}, but your part-2 network gives {actual} "
        f"for a {side}x{side} input"
    )


def check_part_3(submission) -> None:
    """The stated shapes for a 257x257 input equal what the part-2 network produces."""
    _check_stated_shapes(submission, 3, 257)


def check_part_4(submission) -> None:
    """The stated shapes for a 264x264 input equal what the part-2 network produces."""
    _check_stated_shapes(submission, 4, 264)
