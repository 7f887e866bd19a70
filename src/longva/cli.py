"""`longva` command line: a thin shell over library functions.

Each area registers its own commands (`longva/<area>/cli.py: register(app)`); this file only
assembles them and turns user errors (`LongVAError`) into one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys

import typer

from longva.errors import LongVAError

# Libraries' own progress bars and advice would interleave with ours (`Writing model shards: 0%|`
# on every save); set before any of them is imported (they read these at import time).
QUIET_LIBRARIES = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
for _name, _value in QUIET_LIBRARIES.items():
    os.environ.setdefault(_name, _value)

app = typer.Typer(
    name="longva",
    help="Long-context vision-language models: LongVA, V-NIAH, training, ablations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_all() -> None:
    from longva.eval.cli import register as register_eval
    from longva.inference.cli import register as register_inference
    from longva.niah.cli import register as register_niah
    from longva.recipes.ablation.ablate_cli import register as register_ablation
    from longva.recipes.cli import register as register_recipes
    from longva.serve.cli import register as register_serve
    from longva.train.cli import register as register_train

    registers = (register_inference, register_niah, register_train, register_recipes,
                 register_ablation, register_eval, register_serve)
    for register in registers:
        register(app)


_register_all()


@app.callback()
def _root() -> None:
    """Long-context vision-language models: LongVA, V-NIAH, training, ablations."""


@app.command("version")
def version() -> None:
    """Print the package version."""
    from longva import __version__

    typer.echo(__version__)


def main(argv: list[str] | None = None) -> int:
    """Run the app and return its exit code; user and usage errors become one line and code 2."""
    from longva.utils.cli_errors import check_argv, quiet_library_warnings, usage_error_line

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        check_argv(args)  # bytes that are not UTF-8 never reach a command
        with quiet_library_warnings():
            result = app(args=args, prog_name="longva", standalone_mode=False)
    except typer.TyperException as e:  # click's errors (typer vendors click and re-exports none)
        if type(e).__name__ == "NoArgsIsHelpError":  # `longva niah`: the help, as before
            typer.echo(e.ctx.get_help(), err=True)
            return 2
        print(usage_error_line(e), file=sys.stderr)  # one line, not typer's boxed panel
        return 2 if hasattr(e, "ctx") else getattr(e, "exit_code", 1)
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        return 130
    except LongVAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
