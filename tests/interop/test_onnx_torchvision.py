"""torchvision's graph-shaped CNNs exported by PyTorch to ONNX, imported WITH their weights, and run by CNN
Explorer's engine: the output must be onnxruntime's.

The models are exported at test time (``weights=None``, a fixed seed, batch-norm statistics and classifier weights
re-drawn so that the outputs are of order one rather than vanishingly small, eval mode, 64×64 input) with the
TorchScript exporter (``dynamo=False``), so no large ONNX file is committed.  Needs torch, torchvision and
onnxruntime (development packages, see README); skipped with the reason when one is missing.  The small-graph
tests in test_onnx_import.py cover the same operators without them.

Tolerance: float32 everywhere; the engine's summation order differs from onnxruntime's, so the logits agree to
1e-4 relative + 1e-5 × the largest logit (measured: ≤ 6e-6 absolute, ≤ 1e-6 of the largest logit, on
logits of size 0.35 to 10).
"""

import sys
import types
import warnings

import numpy as np
import pytest

from cnnexplorer.engine import Runner
from cnnexplorer.interop import load_onnx

MODELS = {  # name: layer types that show the graph was imported as a graph
    "resnet18": {"Add"},
    "mobilenet_v2": {"Add", "DepthwiseConv2D"},
    "squeezenet1_0": {"Concatenate"},
    "densenet121": {"Concatenate"},
    "googlenet": {"Concatenate"},
    "efficientnet_b0": {"Multiply", "Add", "DepthwiseConv2D"},
}


def _torchvision():
    torch = pytest.importorskip("torch", reason="torch is only installed for development (make test installs it)")
    pytest.importorskip("onnxruntime", reason="onnxruntime is only installed for development: "
                                              "pip install onnxruntime torchvision")
    try:
        import torchvision
    except RuntimeError:
        # A torchvision wheel built for CUDA torch cannot register its compiled detection operators (nms, …) on a
        # CPU-only torch: its import stops in _meta_registrations.  The classification models use none of them.
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
        try:
            import torchvision
        except Exception as exc:  # pragma: no cover - depends on the installed wheels
            pytest.skip(f"torchvision cannot be imported with this torch ({type(exc).__name__}: {exc})")
    except ImportError:
        pytest.skip("torchvision is only installed for development: pip install onnxruntime torchvision")
    return torch, torchvision


def _export(name, tmp_path):
    torch, torchvision = _torchvision()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # googlenet: a notice about its future default initialisation
        model = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
            elif isinstance(module, torch.nn.Linear):
                module.weight.normal_(0, module.in_features ** -0.5)
    x = torch.randn(1, 3, 64, 64)
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          opset_version=17)
    return path, x.numpy()


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_model_reproduces_onnxruntime(name, tmp_path):
    path, x = _export(name, tmp_path)
    import onnxruntime

    expected = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0][0]
    arch, weights = load_onnx(path)
    assert MODELS[name] <= {layer.type_name for layer in arch}
    assert arch.input_shape == (64, 64, 3)
    result = Runner().run(arch, x[0].transpose(1, 2, 0), weights)
    got = list(result.activations.values())[-1]
    scale = float(np.abs(expected).max())
    assert got.shape == expected.shape == (1000,)
    assert scale > 0.1  # the comparison is not of vanishing numbers
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)
    # every layer is used: the model's only output is its last layer
    consumed = {name for layer in arch for name in arch.inputs_of(layer.name)}
    assert [layer.name for layer in arch if layer.name not in consumed] == [arch.layers[-1].name]
