"""The ``spine`` command: run workflows and read their history from a terminal."""
