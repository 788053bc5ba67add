from otter.test_files import test_case

OK_FORMAT = False

name = "q4"
points = 2

@test_case(points=0, hidden=False)
def test_answered(env):
    names = ['q4_1_kernel_1', 'q4_1_kernel_2', 'q4_2_kernel_1', 'q4_2_kernel_2', 'q4_3_shapes', 'q4_4_shapes']
    missing = [name for name in names if env.get(name, ...) is ...]
    assert not missing, f"still to do: {', '.join(missing)} (still ... or not defined: fill in and run its cell)"

@test_case(points=0, hidden=False)
def test_part_1_shapes(YouNet, q4_1_kernel_1, q4_1_kernel_2, torch):
    if q4_1_kernel_1 is None or q4_1_kernel_1 is ... or q4_1_kernel_2 is None or (q4_1_kernel_2 is ...):
        return
    mnist, imagenet = YouNet(q4_1_kernel_1, q4_1_kernel_2)(torch.zeros(1, 1, 256, 256))
    assert mnist.shape == (1, 1, 28, 28), f'part 1: mnist has shape {tuple(mnist.shape)}'
    assert imagenet.shape == (1, 1, 256, 256), f'part 1: imagenet has shape {tuple(imagenet.shape)}'

@test_case(points=0, hidden=False)
def test_part_2_shapes(YouNet, q4_2_kernel_1, q4_2_kernel_2, torch):
    if q4_2_kernel_1 is None or q4_2_kernel_1 is ... or q4_2_kernel_2 is None or (q4_2_kernel_2 is ...):
        return
    net = YouNet(q4_2_kernel_1, q4_2_kernel_2, stride_1=(8, 8), stride_2=(8, 8))
    mnist, imagenet = net(torch.zeros(1, 1, 256, 256))
    assert mnist.shape == (1, 1, 28, 28), f'part 2: mnist has shape {tuple(mnist.shape)}'
    assert imagenet.shape == (1, 1, 256, 256), f'part 2: imagenet has shape {tuple(imagenet.shape)}'

@test_case(points=0, hidden=False)
def test_parts_3_and_4_format(q4_3_shapes, q4_4_shapes):
    if q4_3_shapes is None or q4_3_shapes is ... or q4_4_shapes is None or (q4_4_shapes is ...):
        return
    for name, shapes in (('q4_3_shapes', q4_3_shapes), ('q4_4_shapes', q4_4_shapes)):
        ok = len(shapes) == 2 and all((len(s) == 2 and all((type(n) is int for n in s)) for s in shapes))
        assert ok, f'{name} must look like ((28, 28), (256, 256)), got {shapes!r}'

