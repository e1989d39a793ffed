"""Small PyTorch and ONNX models for the ONNX frontend tests, made in a child process.

``python tests/onnx_models.py OUT`` writes, with fixed seeds:

- ``<kind>_<exporter>.onnx`` for the PyTorch modules in :data:`MODULES` (conv, depthwise, pointwise, residual
  add, pooling, linear, a BatchNorm CNN with an uneven ZeroPad2d) exported by ``torch.onnx.export`` with both
  the dynamo (opset 18) and the TorchScript (opset 17, BatchNorm kept) exporters;
- ``bn_cnn.pt2``: the BatchNorm CNN as a saved ``torch.export`` program.

It runs in its own process because a torch export in a process that has loaded TensorFlow crashes; it never
imports TensorFlow. The hand-built ONNX graphs (padding and layout edge cases) are made in the tests with
``onnx.helper``: they need no torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(2, 6, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.c(x))


class Depthwise(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dw = nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=4)  # depth multiplier 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self.dw(x))


class Pointwise(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pw = nn.Conv2d(4, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(x)


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x))
        return torch.relu(y + self.b(y))


class Pooling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)
        self.mp = nn.MaxPool2d(2)
        self.ap = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ap(self.mp(torch.relu(self.c(x))))


class Linear(nn.Module):
    """Flatten of a 4x3x3 NCHW tensor into a Linear: the CHW -> HWC reordering is folded into the weights."""

    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(1, 4, 3, stride=2)
        self.fc = nn.Linear(36, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(torch.flatten(torch.relu(self.c(x)), 1)), -1)


class BnCnn(nn.Module):
    """Conv+BN, depthwise+pointwise+BN, a residual add, max pooling, an uneven zero pad, global mean, linear.
    ``width`` channels (``2 * width`` after the strided conv); benchmarks/onnx_import.py trains it on digits."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, width, 3, padding=1)
        self.b1 = nn.BatchNorm2d(width)
        self.dw = nn.Conv2d(width, width, 3, padding=1, groups=width)
        self.pw = nn.Conv2d(width, width, 1)
        self.b2 = nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(2)
        self.pad = nn.ZeroPad2d((0, 1, 2, 2))  # left 0, right 1, top 2, bottom 2
        self.c2 = nn.Conv2d(width, 2 * width, 3, stride=2)
        self.fc = nn.Linear(2 * width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.b1(self.c1(x)))
        x = x + F.relu6(self.b2(self.pw(self.dw(x))))
        x = self.pool(x)
        x = torch.relu(self.c2(self.pad(x)))
        return self.fc(x.mean(dim=(2, 3)))


#: kind -> (module class, input shape NCHW)
MODULES: dict[str, tuple[type[nn.Module], tuple[int, ...]]] = {
    "conv": (Conv, (1, 2, 6, 6)),
    "depthwise": (Depthwise, (1, 4, 7, 7)),
    "pointwise": (Pointwise, (1, 4, 5, 5)),
    "residual": (Residual, (1, 4, 6, 6)),
    "pooling": (Pooling, (1, 3, 8, 8)),
    "linear": (Linear, (1, 1, 8, 8)),
    "bn_cnn": (BnCnn, (1, 1, 8, 8)),
}


def build(kind: str) -> nn.Module:
    """The module of ``kind`` with seeded weights and non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(sum(map(ord, kind)))
    m = MODULES[kind][0]()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    return m.eval()


def export_both(m: nn.Module, x: torch.Tensor, dynamo_path: Path, torchscript_path: Path) -> None:
    """Export ``m`` with the dynamo exporter (opset 18+, symbolic batch) and the TorchScript exporter (opset 17,
    BatchNorm kept, symbolic batch ``N``)."""
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.onnx.export(
        m, (x,), str(dynamo_path), dynamo=True, external_data=False, dynamic_shapes=({0: batch},)
    )
    torch.onnx.export(
        m,
        (x,),
        str(torchscript_path),
        dynamo=False,
        opset_version=17,
        input_names=["x"],
        dynamic_axes={"x": {0: "N"}},
        do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE,
    )


def export_all(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for kind, (_, shape) in MODULES.items():
        export_both(
            build(kind), torch.randn(shape), out / f"{kind}_dynamo.onnx", out / f"{kind}_torchscript.onnx"
        )
    m = build("bn_cnn")
    program = torch.export.export(m, (torch.randn(MODULES["bn_cnn"][1]),))
    torch.export.save(program, str(out / "bn_cnn.pt2"))


if __name__ == "__main__":
    export_all(Path(sys.argv[1]))
