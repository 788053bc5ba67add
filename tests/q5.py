from otter.test_files import test_case

OK_FORMAT = False

name = "q5"
points = 3

@test_case(points=0, hidden=False)
def test_answered(env):
    names = ['q5_plain_model', 'q5_bn_model', 'q5_plain_curve', 'q5_bn_curve']
    missing = [name for name in names if env.get(name, ...) is ...]
    assert not missing, f"still to do: {', '.join(missing)} (still ... or not defined: fill in and run its cell)"

@test_case(points=0, hidden=False)
def test_architectures(q5_plain_model, q5_bn_model, torch):
    if q5_plain_model is None or q5_plain_model is ... or q5_bn_model is None or (q5_bn_model is ...):
        return
    nn = torch.nn
    for name, model, with_bn in [('q5_plain_model', q5_plain_model, False), ('q5_bn_model', q5_bn_model, True)]:
        assert isinstance(model, nn.Sequential), f'{name} must be a torch.nn.Sequential'
        layers = list(model)[1:] if len(model) and isinstance(model[0], nn.Flatten) else list(model)
        kinds = [type(layer).__name__ for layer in layers]
        hidden = ['Linear', 'BatchNorm1d', 'Sigmoid'] if with_bn else ['Linear', 'Sigmoid']
        assert kinds == hidden * 3 + ['Linear'], f"{name}: expected (Flatten,) {' -> '.join(hidden)} three times, then Linear; got {' -> '.join(kinds)}"
        linears = [layer for layer in layers if isinstance(layer, nn.Linear)]
        sizes = [(layer.in_features, layer.out_features) for layer in linears]
        assert sizes == [(784, 100), (100, 100), (100, 100), (100, 10)], f'{name}: {sizes}'

@test_case(points=0, hidden=False)
def test_output_shapes(q5_plain_model, q5_bn_model, torch):
    if q5_plain_model is None or q5_plain_model is ... or q5_bn_model is None or (q5_bn_model is ...):
        return
    import copy
    for name, model in [('q5_plain_model', q5_plain_model), ('q5_bn_model', q5_bn_model)]:
        twin = copy.deepcopy(model).eval()
        images = torch.rand(7, 1, 28, 28)
        if not isinstance(twin[0], torch.nn.Flatten):
            images = images.flatten(1)
        with torch.no_grad():
            output = twin(images)
        assert output.shape == (7, 10), f'{name}: {tuple(images.shape)} gave {tuple(output.shape)}'

