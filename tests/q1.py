from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 1

@test_case(points=0, hidden=False)
def test_fixed_module_answered(FixedAddModule, torch):
    assert FixedAddModule is not None, 'FixedAddModule is not defined yet: run its cell'
    output = FixedAddModule(use_good_weights=True)(torch.zeros(1, 2))
    assert output is not None and output is not ..., 'FixedAddModule is not finished: fill in the ... in __init__ and forward'

@test_case(points=0, hidden=False)
def test_fixed_module_shape(FixedAddModule, torch):
    module = FixedAddModule(use_good_weights=True)
    if module(torch.zeros(1, 2)) is None:
        return
    assert isinstance(module.layer_1, torch.nn.Linear), 'keep layer_1 as torch.nn.Linear(2, 1)'
    output = module(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert output.shape == (2, 1), f'expected output shape (2, 1), got {tuple(output.shape)}'

@test_case(points=0, hidden=False)
def test_fixed_module_adds_small_numbers(FixedAddModule, torch):
    output = FixedAddModule(use_good_weights=True)(torch.tensor([[0.25, 0.5], [-0.5, 0.125]]))
    if output is None:
        return
    assert torch.allclose(output.squeeze(1), torch.tensor([0.75, -0.375])), output

