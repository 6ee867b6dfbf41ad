"""A `Screen` as stable plain text (pipes, scripts, tests) or as rich tables (a terminal)."""

from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ferry.cli.kubectl.screen import Screen
from ferry.cli.kubectl.table import Section

# Cell values that carry a verdict, and how a terminal colours them.
STYLES = {
    "Passed": "green", "Failed": "bold red", "Inconclusive": "yellow",
    "yes": "green", "no": "red", "Warning": "yellow",
    "stable": "green", "canary": "cyan", "rolledback": "red", "aborted": "red",
    "True": "green", "False": "red", "Promoted": "green", "RolledBack": "red",
    "Aborted": "red", "Superseded": "dim",
}  # fmt: skip
HEADER_STYLES = {"Ready": {"True": "green", "False": "red"}, "Degraded": {"True": "red"}}


def plain(screen: Screen) -> str:
    """`Key:  value` lines, then each section as a titled, column-aligned table."""
    width = max((len(key) for key, _ in screen.fields), default=0) + 3
    lines = [f"{key + ':':<{width}}{value}" for key, value in screen.fields]
    for section in screen.sections:
        lines += ["", *plain_section(section)]
    return "\n".join(lines) + "\n"


def plain_section(section: Section) -> list[str]:
    lines = [f"{section.title}:" + (f"  ({section.note})" if section.note else "")]
    if not section.rows:
        return [*lines, f"  {section.empty}"]
    return lines + ["  " + line for line in _aligned([section.columns, *section.rows])]


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def rich_screen(screen: Screen, footer: str = "") -> RenderableType:
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column(overflow="fold")
    for key, value in screen.fields:
        header.add_row(key, _header_value(key, value))
    parts: list[RenderableType] = [header]
    parts.extend(rich_section(section) for section in screen.sections)
    if footer:
        parts.append(Text(footer, style="dim"))
    return Group(*parts)


def rich_section(section: Section) -> RenderableType:
    title = Text(section.title, style="bold")
    if section.note:
        title.append(f"  {section.note}", style="dim")
    if not section.rows:
        return Group(Text(""), title, Text(f"  {section.empty}", style="dim"))
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", expand=False)
    last = len(section.columns) - 1
    for index, column in enumerate(section.columns):
        table.add_column(column, overflow="fold", no_wrap=index < last)
    for row in section.rows:
        table.add_row(*(Text(cell, style=STYLES.get(cell, "")) for cell in row))
    return table


def _header_value(key: str, value: str) -> Text:
    first = value.split(" ", 1)[0]
    return Text(value, style=HEADER_STYLES.get(key, {}).get(first, ""))
