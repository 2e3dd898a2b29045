"""`nivalis` entry point: builds the typer app from the command-group modules and maps errors to exit 2."""

from __future__ import annotations

import functools
import math
import sys
import typing
import warnings

import typer

from nivalis import extras
from nivalis.errors import UserError

try:  # typer >= 0.20 vendors click (and no longer installs it); the exceptions it raises are its own copy's
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover  (older typer depends on click itself)
    from click import exceptions as _click_exceptions
_USAGE = (_click_exceptions.UsageError,)
_ABORT = tuple({getattr(_click_exceptions, "Abort", typer.Abort), typer.Abort})

#: command (group, or "group command") → the extras it cannot start without; checked before any work or output
_NEEDS = {"avalanche": ("geo",), "snow": ("snow",), "face": ("face",), "zoo export": ("onnx",)}

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

#: the largest magnitude an integer option takes: int64, the most torch, numpy and the OS accept
_INT_LIMIT = 2**63 - 1


#: options that count threads or processes: more than this many per core only thrashes (and the OS refuses them)
_PARALLEL_OPTIONS, _PER_CORE = ("threads", "workers"), 8


def _finite_number(ctx, param, value):
    """Reject NaN, ±inf and integers beyond int64 when the option is parsed, before any work starts."""
    import os

    values = value if isinstance(value, (list, tuple)) else [value]
    limit = _PER_CORE * (os.cpu_count() or 1)
    for v in values:
        if param.name in _PARALLEL_OPTIONS and isinstance(v, int) and v > limit:
            raise typer.BadParameter(f"{v} is more than {_PER_CORE} per CPU core of this machine ({limit})", ctx=ctx,
                                     param=param)
        if isinstance(v, float) and not math.isfinite(v):
            raise typer.BadParameter(f"{v} is not a finite number", ctx=ctx, param=param)
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > _INT_LIMIT:
            raise typer.BadParameter(f"{v} is too large (at most {_INT_LIMIT:,} in magnitude)", ctx=ctx, param=param)
    return value


def _guard_numbers(command) -> None:
    """Give every int/float option of `command` and its subcommands the finite-number check."""
    for sub in getattr(command, "commands", {}).values():
        _guard_numbers(sub)
    for param in command.params:
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if typing.get_origin(annotation) in (list, tuple):
            annotation = (typing.get_args(annotation) or (None,))[0]
        if annotation not in (int, float):
            continue
        previous = param.callback

        def check(ctx, p, value, previous=previous):
            value = _finite_number(ctx, p, value)
            return previous(ctx, p, value) if previous is not None else value

        param.callback = check


@functools.cache
def command():
    """The click command tree of `app`, built once, with the number checks."""
    cmd = typer.main.get_command(app)
    _guard_numbers(cmd)
    return cmd


def _command_words(argv: list[str] | None) -> list[str]:
    """The group and command names a command line starts with (`avalanche predict`)."""
    words = []
    for arg in sys.argv[1:] if argv is None else argv:
        if arg.startswith("-") or len(words) == 2:
            break
        words.append(arg)
    return words


def _what(words: list[str]) -> str:
    return "nivalis " + " ".join(words) if words else "this command"


def _check_empty(argv: list[str] | None) -> None:
    """An empty argument (`--out ""`) is a mistake for every option here; click would read it as the current folder."""
    args = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(args):
        if arg.strip() == "" or (arg.startswith("--") and arg.endswith("=")):
            name = arg.rstrip("=") if arg.strip() else (args[i - 1] if i and args[i - 1].startswith("-") else "argument")
            raise UserError(f"{name} is empty; give a value")


def _check_extras(argv: list[str] | None) -> None:
    """One `error:` line naming the extra a command needs, before it parses files or writes anything (not for --help)."""
    args = sys.argv[1:] if argv is None else argv
    if "--help" in args:
        return
    words = _command_words(argv)
    for n in (1, 2):
        for extra in _NEEDS.get(" ".join(words[:n]), ()):
            extras.require(extra, _what(words[:n]))


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """A warning is one `warning: ...` line (not Python's two, with a source line a user cannot act on)."""
    return f"warning: {' '.join(str(message).split())}\n"


def _fail(text: str, as_json: bool, code: int = 2, prefix: str = "error: ") -> None:
    """One `error: ...` line on stderr (and `{"error", "code"}` on stdout with --json), then exit `code`."""
    import json

    text = " ".join(str(text).split())  # a message with newlines (a C++ stack, a wrapped path) stays one line
    if as_json:
        sys.stdout.write(json.dumps({"error": text, "code": code}) + "\n")
        sys.stdout.flush()
    print(f"{prefix}{text}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user mistakes become one `error: ...` line on stderr and exit code 2."""
    import os

    from nivalis.cli.interrupt import Interrupted, handled_signals, message
    from nivalis.files import release_locks

    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # OpenCV's WARN lines would precede our one error line
    warnings.formatwarning = _warning_line
    as_json = "--json" in (sys.argv[1:] if argv is None else argv)
    for module in _QUIET_WARNINGS:  # third-party notices a user cannot act on; nivalis's own warnings stay visible
        warnings.filterwarnings("ignore", category=UserWarning, module=module)
    try:
        with handled_signals():
            _check_empty(argv)
            _check_extras(argv)
            code = command()(args=argv, standalone_mode=False, prog_name="nivalis")
    except UserError as exc:
        _fail(str(exc), as_json)
    except ModuleNotFoundError as exc:  # an optional stack reached past the up-front check
        group = _command_words(argv)[:1]
        extra = extras.extra_of(exc.name or "", prefer=_NEEDS.get(group[0], ("",))[0] if group else None)
        if extra is None:
            raise
        _fail(extras.message(_what(group), extra, [exc.name]), as_json)
    except OSError as exc:
        import errno

        if exc.errno != errno.ENAMETOOLONG:  # any path a command builds from a long input name (NAME_probability.tif)
            raise
        _fail(f"a file name is too long for the file system: {str(exc.filename)[:60]}...", as_json)
    except _USAGE as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command group: show its help
            print(exc.format_message())
            sys.exit(0)
        _fail(exc.format_message(), as_json)
    except Interrupted as exc:
        _fail(message(exc), as_json, exc.code, prefix="")
    except (*_ABORT, KeyboardInterrupt):
        _fail("interrupted: no checkpoint was written yet", as_json, 130, prefix="")
    finally:
        release_locks()
        if "nivalis.engine.distributed" in sys.modules:  # only when a command used torch
            sys.modules["nivalis.engine.distributed"].shutdown()
    sys.exit(code if isinstance(code, int) else 0)
