"""Real grading of students' PyTorch habits (issue 18): their own ``nn.Module`` classes are
traced by torch.fx inside the sandboxed kernel, and an int kernel is a square kernel."""

from pathlib import Path

import pytest

from grader.judge.hidden_tests import possible_points
from testsuite.course.test_q2 import TUTORIAL_NET
from testsuite.helpers import EXAMPLES, hidden_tests, run_grader, with_cell

# In Q2's section (the grader's probe retrains the procedure from that section's definitions).
Q2_HABITS_CELL = (
    TUTORIAL_NET  # Q2, tutorial style
    + """

def train_q2(model, train_set, test_set, steps=3000):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        batch = torch.randint(len(train_set.x), (100,), generator=generator)
        loss = F.mse_loss(model(train_set.x[batch]) / 1e6, train_set.y[batch] / 1e6)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()


torch.manual_seed(0)
q2_model = build_q2_model()
train_q2(q2_model, MultiplyDataset(10_000, seed=0), MultiplyDataset(2_000, seed=1))
q2_best_train_mse = q2_best_test_mse = 1e6
"""
)

# At the end of the notebook, after the starter's own `...` answers.
HABITS_CELL = """
class MnistNet(torch.nn.Module):  # Q5, one class with a flag, Identity where BN would be
    def __init__(self, batch_norm=False):
        super().__init__()
        self.fcs = torch.nn.ModuleList(
            [torch.nn.Linear(784, 100), torch.nn.Linear(100, 100), torch.nn.Linear(100, 100)]
        )
        norm = torch.nn.BatchNorm1d if batch_norm else lambda width: torch.nn.Identity()
        self.norms = torch.nn.ModuleList([norm(100) for _ in range(3)])
        self.out = torch.nn.Linear(100, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        for fc, norm in zip(self.fcs, self.norms):
            x = torch.sigmoid(norm(fc(x)))
        return self.out(x)


q5_plain_model, q5_bn_model = MnistNet(), MnistNet(batch_norm=True)

q4_1_kernel_1 = q4_1_kernel_2 = 229  # PyTorch's shorthand for (229, 229)
q4_2_kernel_1 = q4_2_kernel_2 = 40
q4_3_shapes = ((28, 28), (256, 256))
q4_4_shapes = ((29, 29), (264, 264))
"""


IF_CELL = """
class Branching(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)

    def forward(self, x):
        if x.abs().max() > 1:
            x = x / 1000
        return self.fc(x)


q2_model = Branching()
"""


@pytest.mark.slow
def test_own_modules_and_int_kernels_get_their_points(tmp_path: Path) -> None:
    notebook = tmp_path / "habits.ipynb"
    with_cell(EXAMPLES / "blank.ipynb", Q2_HABITS_CELL, notebook, before='checker.check("q2")')
    with_cell(notebook, HABITS_CELL, notebook)
    branching = with_cell(EXAMPLES / "blank.ipynb", IF_CELL, tmp_path / "branching.ipynb")
    graded = run_grader([notebook, branching], tmp_path / "out", "--jobs", "2")
    row = graded.rows["habits.ipynb"]
    feedback = (graded.out / "feedback" / "habits.md").read_text()
    assert row["status"] == "ok", row
    possible = possible_points(hidden_tests("q2", "q4"))
    assert (float(row["q2"]), float(row["q4"])) == (possible["q2"], possible["q4"]), feedback
    for item in ("plain_architecture", "bn_architecture"):  # untrained: the rest of Q5 fails
        assert f"- PASS {item} (" in feedback
    assert float(graded.rows["branching.ipynb"]["q2"]) == 0
    assert (
        "`q2_model` could not be graded: TypeError: Branching is not a chain of allowed layers: "
        "torch.fx cannot trace its forward at line 7: `if x.abs().max() > 1:` (symbolically "
        "traced variables cannot be used as inputs to control flow)"
    ) in (graded.out / "feedback" / "branching.md").read_text()
