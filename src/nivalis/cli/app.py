"""`nivalis` entry point: builds the typer app from the command-group modules and maps errors to exit 2."""

from __future__ import annotations

import sys
import warnings

import click
import typer

from nivalis.errors import UserError

try:  # typer >= 0.20 vendors click; its exceptions are not click's
    from typer._click import exceptions as _typer_click
    _USAGE = (click.exceptions.UsageError, _typer_click.UsageError)
    _ABORT = (click.exceptions.Abort, typer.Abort)
except ImportError:  # pragma: no cover
    _USAGE = (click.exceptions.UsageError,)
    _ABORT = (click.exceptions.Abort,)

#: optional module → the extra that installs it (pyproject.toml)
_EXTRAS = {"torch_geometric": "snow", "h5py": "snow", "rasterio": "geo", "shapely": "geo", "pyogrio": "geo",
           "cv2": "geo", "xgboost": "xgb", "onnx": "onnx", "onnxruntime": "onnx", "safetensors": "face",
           "matplotlib": "plot"}

#: modules whose UserWarnings are implementation notices (PyG's optional extensions, the ONNX tracer, a JPEG
#: without georeferencing, which the avalanche reader reports itself)
_QUIET_WARNINGS = (r"torch_geometric(\..*)?", r"torch\.onnx(\..*)?", r"torch\.jit(\..*)?", r"onnxruntime(\..*)?",
                   r"rasterio(\..*)?")

app = typer.Typer(
    name="nivalis",
    help="Convolutional and graph-convolutional networks for snow and ice remote sensing.\n\n"
         "Start with `nivalis demo` (trains each pipeline on embedded data and writes a report).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _register() -> None:
    from nivalis.cli import demo, train, zoo

    app.command("train", help=train.__doc__)(train.train)
    app.add_typer(zoo.app, name="zoo")
    app.command("demo", help=demo.__doc__)(demo.demo)
    from nivalis.cli import refine
    app.add_typer(refine.app, name="refine")
    from nivalis.cli import avalanche
    app.add_typer(avalanche.app, name="avalanche")
    from nivalis.cli import snow
    app.add_typer(snow.app, name="snow")
    from nivalis.cli import face
    app.add_typer(face.app, name="face")


_register()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user mistakes become one `error: ...` line on stderr and exit code 2."""
    for module in _QUIET_WARNINGS:  # third-party notices a user cannot act on; nivalis's own warnings stay visible
        warnings.filterwarnings("ignore", category=UserWarning, module=module)
    try:
        code = app(args=argv, standalone_mode=False, prog_name="nivalis")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"error: this command needs {exc.name}, part of the '{extra}' extra: pip install 'nivalis[{extra}]'",
              file=sys.stderr)
        sys.exit(2)
    except _USAGE as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command group: show its help
            print(exc.format_message())
            sys.exit(0)
        print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except _ABORT:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        if "nivalis.engine.distributed" in sys.modules:  # only when a command used torch
            sys.modules["nivalis.engine.distributed"].shutdown()
    sys.exit(code if isinstance(code, int) else 0)
