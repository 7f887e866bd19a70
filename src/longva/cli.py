"""`longva` command line: a thin shell over library functions.

Each area registers its own commands (`longva/<area>/cli.py: register(app)`); this file only
assembles them and turns user errors (`LongVAError`) into one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from longva.errors import LongVAError

app = typer.Typer(
    name="longva",
    help="Long-context vision-language models: LongVA, V-NIAH, training, ablations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_all() -> None:
    from longva.ablation.cli import register as register_ablation
    from longva.eval.cli import register as register_eval
    from longva.inference.cli import register as register_inference
    from longva.niah.cli import register as register_niah
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
    """Run the app and return its exit code; user errors become one line and code 2."""
    try:
        app(args=argv, prog_name="longva")  # standalone: usage errors exit 2 with click's message
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except LongVAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
