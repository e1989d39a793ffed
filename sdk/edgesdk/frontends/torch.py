"""PyTorch models in: an ``nn.Module`` (with example inputs) or a saved ``torch.export`` program (``.pt2``) ->
ONNX bytes, which :func:`edgesdk.compiler.model.load_onnx` takes on.

The ONNX export always runs in a child process (``python -m edgesdk.frontends.torch``): running a torch export
in a process that has loaded TensorFlow crashed (segfault), and edgesdk loads TensorFlow to quantize. What
crosses the process boundary is a file:

- exporter ``"dynamo"`` (torch's default, opset 18+): ``torch.export.export`` here, saved as ``.pt2``, converted
  by ``torch.onnx.export`` in the child. ``torch.export`` itself crashes once TensorFlow is loaded, so this
  needs a process that has not loaded it yet;
- exporter ``"torchscript"`` (the older exporter): ``torch.jit.trace`` here (safe beside TensorFlow), saved as
  TorchScript, converted by ``torch.onnx.export(..., dynamo=False)`` in the child;
- ``"auto"``: dynamo while TensorFlow is not loaded, else torchscript (logged).

A ``.pt2`` file goes to the child as it is.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgesdk.errors import EdgeSDKError, ModelFormatError, UnsupportedOpError

log = logging.getLogger(__name__)

EXPORTERS = ("auto", "dynamo", "torchscript")
#: Opset of the TorchScript exporter (the dynamo exporter picks its own, 18 or later).
TORCHSCRIPT_OPSET = 17
EXPORT_TIMEOUT_S = 600


def is_torch_module(obj: Any) -> bool:
    """True for a ``torch.nn.Module`` (without importing torch when the caller has not)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ModelFormatError(
            "PyTorch models need the torch package: pip install 'edgesdk[torch]'"
        ) from None
    return torch


def _as_args(example_inputs: Any) -> tuple[Any, ...]:
    torch = _import_torch()
    if example_inputs is None:
        raise ModelFormatError(
            "a PyTorch module needs example_inputs (a tensor of the input's shape, batch 1)"
        )
    args = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    if not all(isinstance(a, torch.Tensor) for a in args):
        raise ModelFormatError("example_inputs must be a torch.Tensor or a tuple of them")
    return args


def _child(args: list[str], what: str) -> bytes:
    """Run the exporter child; return the ONNX bytes it wrote."""
    sdk = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = sdk + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryDirectory(prefix="edgesdk-onnx-") as tmp:
        out = Path(tmp) / "model.onnx"
        cmd = [sys.executable, "-m", "edgesdk.frontends.torch", *args, "--out", str(out)]
        log.info("exporting %s to ONNX in a child process", what)
        try:
            r = subprocess.run(
                cmd, check=False, timeout=EXPORT_TIMEOUT_S, capture_output=True, text=True, env=env
            )
        except subprocess.TimeoutExpired:
            raise UnsupportedOpError(
                f"exporting {what} to ONNX took longer than {EXPORT_TIMEOUT_S} s"
            ) from None
        if r.returncode != 0 or not out.exists():
            lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("W", "I"))]
            detail = lines[-1].strip()[:300] if lines else f"exit code {r.returncode}"
            raise UnsupportedOpError(f"PyTorch could not export {what} to ONNX: {detail}")
        log.debug("exporter output:\n%s", r.stderr[-4000:])
        return out.read_bytes()


def module_to_onnx(module: Any, example_inputs: Any, *, exporter: str = "auto") -> bytes:
    """Export an ``nn.Module`` (in eval mode) to ONNX bytes with the chosen exporter (module docstring)."""
    torch = _import_torch()
    if exporter not in EXPORTERS:
        raise EdgeSDKError(f"exporter {exporter!r} is not one of {', '.join(EXPORTERS)}")
    args = _as_args(example_inputs)
    what = f"PyTorch module {type(module).__name__}"
    tf_loaded = "tensorflow" in sys.modules
    if exporter == "auto":
        exporter = "torchscript" if tf_loaded else "dynamo"
        if tf_loaded:
            log.info("TensorFlow is loaded in this process: exporting %s with the TorchScript exporter", what)
    module = module.eval()
    with tempfile.TemporaryDirectory(prefix="edgesdk-torch-") as tmp:
        if exporter == "dynamo":
            if tf_loaded:
                raise EdgeSDKError(
                    f"cannot export {what} with the dynamo exporter in a process that has loaded TensorFlow "
                    "(torch.export crashes there): load the PyTorch model first, save it with torch.export.save "
                    "and pass the .pt2 file, or use exporter='torchscript'"
                )
            try:
                with torch.no_grad():
                    program = torch.export.export(module, args)
                pt2 = Path(tmp) / "model.pt2"
                torch.export.save(program, str(pt2))
            except Exception as exc:
                raise UnsupportedOpError(
                    f"torch.export could not trace {what}: {str(exc).splitlines()[0][:300]}"
                ) from None
            return _child(["--pt2", str(pt2)], what)
        try:
            with torch.no_grad():
                traced = torch.jit.trace(module, args)
            ts = Path(tmp) / "model.pt"
            traced.save(str(ts))
            torch.save(args, str(Path(tmp) / "args.pt"))
        except Exception as exc:
            raise UnsupportedOpError(
                f"torch.jit.trace could not trace {what}: {str(exc).splitlines()[0][:300]}"
            ) from None
        return _child(["--torchscript", str(ts), "--args", str(Path(tmp) / "args.pt")], what)


def pt2_to_onnx(path: str | Path) -> bytes:
    """Export a saved ``torch.export`` program (``.pt2``) to ONNX bytes in a child process."""
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"model {path} does not exist")
    return _child(["--pt2", str(path)], f"model {path}")


def _main(argv: list[str] | None = None) -> int:
    """The child process: one export, no TensorFlow."""
    p = argparse.ArgumentParser(prog="python -m edgesdk.frontends.torch")
    p.add_argument("--pt2")
    p.add_argument("--torchscript")
    p.add_argument("--args")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    import torch

    if a.pt2:
        try:
            program = torch.export.load(a.pt2)
        except Exception as exc:
            print(f"{a.pt2} is not a torch.export program: {str(exc).splitlines()[0][:200]}", file=sys.stderr)
            return 2
        args, kwargs = program.example_inputs or ((), {})
        torch.onnx.export(
            program, args, a.out, kwargs=kwargs or None, dynamo=True, external_data=False, verbose=False
        )
    else:
        module = torch.jit.load(a.torchscript)
        args = torch.load(a.args, weights_only=True)
        torch.onnx.export(
            module, args, a.out, dynamo=False, opset_version=TORCHSCRIPT_OPSET, input_names=["input"]
        )
    return 0


if __name__ == "__main__":
    sys.exit(_main())
