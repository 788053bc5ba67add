from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 3

@test_case(points=0, hidden=False)
def test_answered(env):
    names = ['q2_model', 'q2_best_train_mse', 'q2_best_test_mse']
    missing = [name for name in names if env.get(name, ...) is ...]
    assert not missing, f"still to do: {', '.join(missing)} (still ... or not defined: fill in and run its cell)"

@test_case(points=0, hidden=False)
def test_q2_model_layers(q2_model, torch):
    if q2_model is None or q2_model is ...:
        return
    allowed = {'Linear', 'ReLU', 'LeakyReLU', 'Sigmoid', 'Tanh', 'ELU', 'GELU', 'SiLU', 'Softplus', 'BatchNorm1d', 'LayerNorm', 'Dropout', 'Identity', 'Flatten', 'Scale'}
    kind = type(q2_model).__name__
    assert isinstance(q2_model, torch.nn.Sequential), f'q2_model is a {kind}, not a Sequential'
    for index, layer in enumerate(q2_model):
        name = type(layer).__name__
        genuine = name == 'Scale' or type(layer).__module__.startswith('torch.nn.')
        assert name in allowed and genuine, f'layer {index} ({name}) is not an allowed layer'

@test_case(points=0, hidden=False)
def test_q2_model_output_shape(q2_model, torch):
    if q2_model is None or q2_model is ...:
        return
    import copy
    model = copy.deepcopy(q2_model).eval()
    with torch.no_grad():
        output = model(torch.tensor([[1.0, 2.0], [-500.0, 999.0], [0.0, -3.0]]))
    assert output.shape == (3, 1), f'expected output shape (3, 1), got {tuple(output.shape)}'
    assert torch.isfinite(output).all(), 'q2_model returns NaN or infinite predictions'

@test_case(points=0, hidden=False)
def test_q2_reported_mse(q2_best_train_mse, q2_best_test_mse):
    if q2_best_train_mse is None or q2_best_train_mse is ... or q2_best_test_mse is None or (q2_best_test_mse is ...):
        return
    import math
    for name, value in (('q2_best_train_mse', q2_best_train_mse), ('q2_best_test_mse', q2_best_test_mse)):
        kind = type(value).__name__
        assert isinstance(value, float), f'{name} is a {kind}; use float(...) or .item()'
        assert math.isfinite(value) and value >= 0, f'{name} = {value} is not a finite MSE'

