"""The core every stage shares: typed params, the data/ layout, the CLI, errors, atomic I/O."""
