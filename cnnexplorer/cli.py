"""``cnnexplorer``: the GUI by default, and the ``summary``, ``run``, ``export``, ``diagram`` and ``train`` sub-commands.

Exit codes: 0 success; 1 the architecture is invalid (a layer cannot be computed; the message names it);
2 a bad file or bad arguments (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

EXIT_OK, EXIT_INVALID, EXIT_BAD_INPUT = 0, 1, 2
SUBCOMMANDS = ("summary", "run", "export", "diagram", "train")


class UsageError(Exception):
    """Bad arguments or a bad input file: exit code 2 with a one-line message."""


class InvalidArchitecture(Exception):
    """The architecture is invalid (a layer cannot be computed): exit code 1 with a one-line message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage on two or more lines)
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def one_line(message: str) -> str:
    """Messages go to stderr as one line, whatever names a file smuggled into them."""
    return " ".join(message.split("\n")).replace("\r", " ")


def _load_target(target: str, with_weights: bool = False):
    """The architecture ``target`` names; with ``with_weights`` (an ONNX model) ``(architecture, its weights)``
    from one read of the file (each read starts a reader process)."""
    from . import load  # the top-level loader: presets, our files, Keras JSON (and more formats as they come)
    from .model import ArchitectureFileError
    from .model.presets import PRESET_NAMES

    if target not in PRESET_NAMES and not os.path.exists(target):
        raise UsageError(f"{target}: no such file or preset (presets: {', '.join(PRESET_NAMES)})")
    try:
        if with_weights:
            from .interop import load_onnx

            return load_onnx(target)
        return load(target)
    except ArchitectureFileError as exc:
        raise UsageError(str(exc)) from None


def _require_valid(arch, consequence: str = "") -> None:
    """Raise :class:`InvalidArchitecture` naming the layer that cannot be computed (and ``consequence``)."""
    problem = arch.invalid_message()
    if problem is not None:
        raise InvalidArchitecture(f"{arch.name}: {problem}{consequence}")


def _cannot_write(path, exc: OSError) -> UsageError:
    return UsageError(f"{path}: cannot write ({exc.strerror or exc})")


def _write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through the one atomic writer (a fresh temporary file beside it, then a rename:
    a failed write leaves the old file as it was); exit 2 if it cannot be written."""
    from .model.files import atomic_writer

    try:
        data = text.encode("utf-8")
        with atomic_writer(path, binary=True) as f:
            f.write(data)
    except UnicodeEncodeError as exc:
        raise UsageError(f"{path}: cannot write character {text[exc.start:exc.end]!a} as UTF-8") from None
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def cmd_summary(args) -> int:
    from .model.export_summary import summary_format_for_path, summary_text

    fmt = args.format
    if fmt is None:
        fmt = (summary_format_for_path(args.output) if args.output else None) or "table"
    arch = _load_target(args.target)
    text = summary_text(arch, fmt)
    if args.output:
        _write_text(args.output, text)
        print(f"wrote the {fmt} summary of {arch.name} to {args.output}")
    else:
        sys.stdout.write(text)
    _require_valid(arch)
    return EXIT_OK


def cmd_run(args) -> int:
    from . import load_weights
    from .engine import EngineInputError, MemoryBudgetError
    from .engine.pretrained import resolve_weights
    from .engine.runner import run_to_npz
    from .model import CnnExplorerError

    own_weights = args.weights is None and args.target.lower().endswith(".onnx")   # an ONNX model runs with its own
    try:
        arch, weights = _load_target(args.target, with_weights=True) if own_weights else \
            (_load_target(args.target), None)
    except (EngineInputError, ImportError) as exc:
        raise UsageError(str(exc)) from None
    _require_valid(arch)
    try:
        if args.weights is not None:                # .npz, .onnx or Keras .weights.h5, checked against the model
            weights = load_weights(args.weights, arch)
    except (CnnExplorerError, EngineInputError, ImportError) as exc:
        raise UsageError(str(exc)) from None
    source = f"weights from {args.weights or args.target}" if weights is not None else None
    weights, seed, described = resolve_weights(arch, weights, args.seed)   # a preset's trained weights by default
    try:
        # each activation goes to the file as it is computed; only the model's outputs stay in memory
        outputs = run_to_npz(arch, args.input, args.out, weights=weights, seed=seed)
    except (EngineInputError, MemoryBudgetError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise _cannot_write(args.out, exc) from None
    print(f"wrote {len(arch)} activations of {arch.name} to {args.out} (using {source or described})")
    prediction = _prediction(arch, outputs, _read_labels(args.labels) if args.labels else None)
    if prediction:
        print(prediction)
    return EXIT_OK


def _read_labels(path: str) -> list[str]:
    """Class names, one a line (blank lines kept as unnamed classes); at most 1 MB."""
    try:
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such file (--labels wants a text file, one class name a line)")
        if os.path.getsize(path) > 1 << 20:
            raise UsageError(f"{path}: over 1 MB; --labels wants a text file, one class name a line")
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f.read().splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read as UTF-8 text ({getattr(exc, 'strerror', None) or exc})") from None


def _prediction(arch, activations, labels: list[str] | None) -> str:
    """For a classifier (its last layer ends in softmax): the top 5 classes with their probabilities."""
    from .engine import visualize

    last = arch.layers[-1] if len(arch) else None
    if last is None or getattr(last, "activation", None) != "softmax":
        return ""
    bars = visualize.bars(activations[last.name], "softmax", k=5)

    def label(i: int) -> str:
        name = labels[i] if labels is not None and i < len(labels) and labels[i] else ""
        return f"class {i}" + (f" ({name})" if name else "")

    return "top 5: " + ", ".join(f"{label(i)} {p:.2%}" for i, p in bars.top) if bars.top else ""


def cmd_export(args) -> int:
    from .model.export_code import export_code

    arch = _load_target(args.target)
    _require_valid(arch, "; an invalid architecture cannot be exported")
    if args.train:
        from .model import ArchitectureError
        from .model.export_train import to_pytorch_training_script

        if args.to != "pytorch":
            raise UsageError(f"--train writes a PyTorch training script; use --to pytorch, not --to {args.to}")
        try:
            code = to_pytorch_training_script(arch)
        except ArchitectureError as exc:  # e.g. an output that is not one score per class
            raise InvalidArchitecture(str(exc)) from None
    else:
        code = export_code(arch, args.to)
    if args.output:
        _write_text(args.output, code)
        print(f"wrote {args.to} {'training script' if args.train else 'code'} of {arch.name} to {args.output}")
    else:
        sys.stdout.write(code)
    return EXIT_OK


def cmd_diagram(args) -> int:
    suffix = os.path.splitext(args.output)[1].lower()
    if suffix not in (".png", ".svg"):
        raise UsageError(f"{args.output}: the diagram is written as .svg or .png (the suffix chooses), "
                         f"not {suffix or 'a name without a suffix'}")
    arch = _load_target(args.target)
    from .engine.diagram_png import save_diagram

    try:
        save_diagram(arch, args.output, scale=args.scale)
    except OSError as exc:
        raise _cannot_write(args.output, exc) from None
    print(f"wrote the diagram of {arch.name} to {args.output}")
    _require_valid(arch)   # drawn anyway, with the failing layer marked
    return EXIT_OK


# --- train -------------------------------------------------------------------------------------------
class _ProgressBar:
    """A tqdm-style line on stderr: epoch, batch, loss, accuracy, images/s, ETA.  On a terminal it is redrawn in
    place (at most ten times a second); otherwise one line is written per epoch."""

    WIDTH = 24

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0

    @staticmethod
    def _clock(seconds: float) -> str:
        seconds = int(round(seconds))
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def line(self, event) -> str:
        filled = int(self.WIDTH * event.batch / max(1, event.batches))
        bar = "█" * filled + "·" * (self.WIDTH - filled)
        text = (f"epoch {event.epoch + 1}/{event.epochs} |{bar}| {event.batch}/{event.batches} "
                f"loss {event.loss:.4f} accuracy {event.accuracy:.3f} {event.images_per_second:,.0f} images/s "
                f"ETA {self._clock(event.eta_seconds)}")
        if event.kind == "epoch" and "val_loss" in event.logs:
            text += f" val_loss {event.logs['val_loss']:.4f} val_accuracy {event.logs['val_accuracy']:.3f}"
        return text

    def __call__(self, event) -> None:
        import time

        if event.kind == "epoch":
            self.stream.write(("\r" if self.tty else "") + self.line(event) + "\n")
        elif self.tty and time.monotonic() - self._last >= 0.1:
            self._last = time.monotonic()
            self.stream.write("\r" + self.line(event))
        self.stream.flush()


def _number(kind, text: str):
    """``kind(text)`` (int or float), or the argument error that says what was expected."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a {'whole ' if kind is int else ''}number, "
                                         f"got {text!r}") from None


def _fraction(text: str) -> float:
    value = _number(float, text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to below 1, got {value:g}")
    return value


def _positive(kind):
    def parse(text: str):
        value = _number(kind, text)
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
        return value
    return parse


def cmd_train(args) -> int:
    arch = _load_target(args.target)
    _require_valid(arch)
    import json

    from . import load_weights
    from .engine import EngineInputError, fit, save_weights
    from .engine.datasets import load_dataset, split
    from .model import CnnExplorerError

    for path in (args.out, args.history):     # refuse before training, not after it
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder is not None and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            raise UsageError(f"{path}: cannot write (the folder {folder} does not exist or is not writable)")
    try:
        weights = load_weights(args.weights, arch) if args.weights is not None else None
        dataset = load_dataset(args.dataset, input_shape=arch.input_shape)
        validation = None
        if args.validation:
            dataset, held_out = split(dataset, args.validation, seed=args.seed)
            validation = (held_out.x, held_out.y)
        result = fit(arch, dataset.x, dataset.y, weights=weights, seed=args.seed, epochs=args.epochs,
                     batch_size=args.batch_size, optimizer=args.optimizer, learning_rate=args.lr,
                     momentum=args.momentum, validation_data=validation, callback=_ProgressBar())
    except (CnnExplorerError, EngineInputError, ImportError, ValueError) as exc:
        raise UsageError(f"{exc}") from None
    try:
        save_weights(result.weights, args.out)
    except OSError as exc:
        raise _cannot_write(args.out, exc) from None
    if args.history:
        _write_text(args.history, json.dumps(result.history, indent=2) + "\n")
    figures = ", ".join(f"{k} {v[-1]:.4f}" for k, v in result.history.items())
    epochs = len(result.history["loss"])
    print(f"trained {arch.name} on {args.dataset} ({len(dataset.y):,} images, {epochs} epoch{'s' * (epochs != 1)}): "
          f"{figures}; wrote the weights to {args.out}")
    return EXIT_OK


def _scale(text: str) -> float:
    value = _number(float, text)
    if not 0.25 <= value <= 8:
        raise argparse.ArgumentTypeError(f"expected a scale from 0.25 to 8, got {value:g}")
    return value


def _seed(text: str) -> int:
    value = _number(int, text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to {2**32 - 1}, got {value}")
    return value


WINDOW_USAGE = """the window:
  cnnexplorer [FILE|PRESET] [--image IMG] [--screenshot OUT.png]
                        open the window (FILE: an architecture file, ours or Keras JSON, or .onnx;
                        PRESET: sample-cnn, lenet5, ...); --image loads an input picture (default: a
                        sample that suits the model); --screenshot OUT.png renders the window
                        offscreen, saves it and exits"""


def _version() -> str:
    from . import __version__

    return f"cnnexplorer {__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnexplorer", description="Design convolutional neural networks and see them work.",
                     epilog=WINDOW_USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    p = sub.add_parser("summary", help="print every layer's output shape, parameters, MACs and receptive field")
    p.add_argument("target", help="a preset name (sample-cnn, lenet5, ...) or an architecture file (ours or Keras JSON)")
    p.add_argument("--format", choices=("table", "json", "markdown", "csv"), default=None,
                   help="default: from the suffix of -o (.txt, .json, .md, .csv), else table")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("run", help="run the model on an image or .npy array and save every layer's activation")
    p.add_argument("target", help="a preset name or an architecture file")
    p.add_argument("input", help="an image (PNG, JPEG, ...) or a .npy array of shape (H, W, C)")
    p.add_argument("--out", required=True, help="the .npz file to write (one array per layer, keyed by layer name)")
    p.add_argument("--weights", help="a .npz, .onnx or Keras .weights.h5 weights file (default: an ONNX "
                                     "model's own, else initialised from --seed)")
    p.add_argument("--seed", type=_seed, default=None,
                   help="run with weights initialised from this seed (default: a preset's shipped trained weights, "
                        "else seed 0)")
    p.add_argument("--labels", metavar="FILE", help="class names, one a line, for the top-5 prediction printed "
                                                    "when the model ends in softmax")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("export", help="write Python code that rebuilds the model in Keras or PyTorch")
    p.add_argument("target", help="a preset name or an architecture file")
    p.add_argument("--to", required=True, choices=("keras", "pytorch"), help="the framework")
    p.add_argument("-o", "--output", metavar="FILE", help="the .py file to write (default: standard output)")
    p.add_argument("--train", action="store_true", help="write a PyTorch training script (model, data loading for "
                                                       "IDX/folder/npz, loss, optimiser, saving .npz weights)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("diagram", help="draw the model as a row of blocks, as an SVG or PNG file")
    p.add_argument("target", help="a preset name or an architecture file")
    p.add_argument("-o", "--output", metavar="FILE.svg|FILE.png", required=True,
                   help="the file to write; its suffix chooses the format")
    p.add_argument("--scale", type=_scale, default=2.0, help="PNG pixels per diagram unit (default 2)")
    p.set_defaults(func=cmd_diagram)
    p = sub.add_parser("train", help="train the model on a dataset and save the trained weights")
    p.add_argument("target", help="a preset name or an architecture file")
    p.add_argument("dataset", help="digits, fashion-mnist, shapes, or a path: an IDX images file, a folder with one "
                                   "subfolder per class, or an .npz with x and y")
    p.add_argument("--epochs", type=_positive(int), default=1, help="passes over the data (default 1)")
    p.add_argument("--batch-size", type=_positive(int), default=32, help="images per step (default 32)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="default adam (Keras 3 semantics)")
    p.add_argument("--lr", type=_positive(float), default=1e-3, help="learning rate (default 0.001)")
    p.add_argument("--momentum", type=_fraction, default=0.0, help="SGD momentum (default 0)")
    p.add_argument("--out", required=True, help="the .npz file to write the trained weights to")
    p.add_argument("--weights", help="initial weights (.npz, .onnx or Keras .weights.h5; default: initialised "
                                     "from --seed)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the initialisation, shuffling, dropout and "
                                                         "validation split (default 0)")
    p.add_argument("--validation", type=_fraction, default=0.0,
                   help="fraction of the dataset held out for validation (default 0: none)")
    p.add_argument("--history", metavar="H.json", help="write the per-epoch history as JSON")
    p.set_defaults(func=cmd_train)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnexplorer", description="Open the CNN Explorer window. Sub-commands: "
                                                     + ", ".join(SUBCOMMANDS) + " (cnnexplorer COMMAND --help).")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("file", nargs="?", help="an architecture file or preset name to open")
    parser.add_argument("--screenshot", metavar="OUT.png", help="render the window offscreen (unless "
                                                               "QT_QPA_PLATFORM says otherwise), save it and exit")
    parser.add_argument("--image", metavar="IMG", help="an input image to load (default: a sample that suits "
                                                       "the model)")
    return parser


def run_gui(args) -> int:
    try:
        from .gui.app import main as gui_main
    except ImportError:
        print("cnnexplorer: the window is not part of this build yet; use 'cnnexplorer summary' or "
              "'cnnexplorer run' (see 'cnnexplorer --help')", file=sys.stderr)
        return EXIT_OK
    return gui_main(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            args = build_parser().parse_args(argv)
            return args.func(args)
        if argv and argv[0] in ("-h", "--help", "--version"):
            try:
                build_parser().parse_args(argv[:1])      # prints the help or the version
            except SystemExit as done:
                return int(done.code or 0)
            return EXIT_OK
        return run_gui(build_gui_parser().parse_args(argv))
    except UsageError as exc:
        print(one_line(str(exc)), file=sys.stderr)
        return EXIT_BAD_INPUT
    except InvalidArchitecture as exc:
        print(one_line(str(exc)), file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
