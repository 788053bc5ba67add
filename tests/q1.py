from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 1

@test_case(points=0, hidden=False)
def test_fixed_module_shape(FixedAddModule, torch):
    module = FixedAddModule(use_good_weights=True)
    assert isinstance(module.layer_1, torch.nn.Linear), 'keep layer_1 as torch.nn.Linear(2, 1)'
    output = module(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert output.shape == (2, 1), f'expected output shape (2, 1), got {tuple(output.shape)}'

@test_case(points=0, hidden=False)
def test_fixed_module_adds_small_numbers(FixedAddModule, torch):
    output = FixedAddModule(use_good_weights=True)(torch.tensor([[0.25, 0.5], [-0.5, 0.125]]))
    assert torch.allclose(output.squeeze(1), torch.tensor([0.75, -0.375])), output

