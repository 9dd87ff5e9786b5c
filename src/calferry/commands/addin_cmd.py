"""``calferry addin``: the Outlook add-in's manifest, and pairing the add-in with this calferry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from calferry.commands.common import JsonOption, console, emit_json, handles_errors

addin_app = typer.Typer(
    help="The Outlook add-in: its manifest, and pairing it with calferry.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(addin_app, name="addin")


@addin_app.command("manifest")
@handles_errors
def manifest(
    url: Annotated[
        str, typer.Option(help="The https address Outlook reaches calferry under (the add-in's pages).")
    ] = "https://localhost:8765",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the manifest to this file instead of printing it."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Print (or write) the add-in's XML manifest, to install in Outlook ("Add from file")."""
    from calferry.addin.manifest import base_url, manifest_xml

    text = manifest_xml(url)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    if json_output:
        emit_json({"url": base_url(url), "output": None if output is None else str(output), "manifest": text})
    elif output is None:
        typer.echo(text, nl=False)
    else:
        console.print(f"Wrote the add-in manifest for {base_url(url)} to {output}")


@addin_app.command("pair")
@handles_errors
def pair(json_output: JsonOption = False) -> None:
    """Make a new pairing code for the add-in (the previous one stops working); it is shown only now."""
    from calferry.addin import token

    code = token.pair()
    if json_output:
        emit_json({"pairing_code": code})
        return
    console.print("Enter this pairing code in the calferry add-in in Outlook (it is shown only this once):")
    console.print(code, markup=False, highlight=False)
