"""python -m ecg_edge.modelbin.corpus: write the malformed-file corpus and/or its fuzz seeds."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin.corpus import write_corpus, write_seeds
from ecg_edge.options import entry_point


@click.command(help="Write the malformed model.bin corpus (every file with the refusal it must get).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="write every file and index.json here")
@click.option("--seeds", type=click.Path(file_okay=False, path_type=Path),
              help="write one runtime_c fuzz seed per rule here")
def command(out: Path | None, seeds: Path | None) -> None:
    if out is None and seeds is None:
        raise EcgEdgeError("give --out DIR and/or --seeds DIR")
    if out is not None:
        click.echo(f"{write_corpus(out)} corpus files in {out}")
    if seeds is not None:
        click.echo(f"{write_seeds(seeds)} corpus seeds in {seeds}")


main = entry_point(command, "python -m ecg_edge.modelbin.corpus")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
