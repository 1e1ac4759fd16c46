"""`python3 -m tinygen ...`: the tinygen command, where its console script is not on PATH."""
from .cli import main

main(prog_name="tinygen")
