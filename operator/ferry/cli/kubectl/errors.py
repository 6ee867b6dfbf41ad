"""The one error the plugin shows: `error: ...` on stderr and a non-zero exit, no traceback."""

from typing import IO, Any

import click


class CliError(click.ClickException):
    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=True)
