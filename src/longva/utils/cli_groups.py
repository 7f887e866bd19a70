"""A typer command group with a default subcommand.

`longva ablate PLAN ...` means `longva ablate run PLAN ...` and `longva niah --model DIR ...`
means `longva niah run --model DIR ...`: when the first argument is not a subcommand name (nor
--help), the default subcommand is implied.
"""

from __future__ import annotations

from typer.core import TyperGroup


class DefaultRunGroup(TyperGroup):
    default_command = "run"

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)
