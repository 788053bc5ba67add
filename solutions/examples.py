"""The example mistakes of this course: ``grader build`` turns the solution into
``examples/partly_wrong.ipynb`` with them (each must match exactly one cell of the solution)."""

# (old, new) source replacements that turn the solution into a realistic, partly wrong submission.
MISTAKES: list[tuple[str, str]] = [
    # Q1: keeps the clamp, so sums beyond [-1, 1] come out wrong.
    ("self.activation = torch.nn.Identity()", "self.activation = torch.nn.Hardtanh()"),
    (
        "**Q1 (a) answer:** No. Hardtanh clamps",
        "**Q1 (a) answer:** No, the range of ReLU is [1,1]. Hardtanh clamps",
    ),
    # Q2: no input/target scaling, so training stalls far above the strict MSE tier.
    ("INPUT_SCALE = 1e-3", "INPUT_SCALE = 1.0"),
    ("TARGET_SCALE = 1e6", "TARGET_SCALE = 1.0"),
    # Q5: BN after the nonlinearity instead of before it (the sample submission's bug).
    (
        "        if batch_norm:\n            layers.append(nn.BatchNorm1d(100))\n"
        "        layers.append(nn.Sigmoid())\n",
        "        layers.append(nn.Sigmoid())\n        if batch_norm:\n"
        "            layers.append(nn.BatchNorm1d(100))\n",
    ),
    # Q4 part 2: the transposed kernel is one too small (27 * 8 + 39 = 255).
    ("q4_2_kernel_2 = (40, 40)", "q4_2_kernel_2 = (39, 39)"),
]
