"""Pipeline stages, one module each: `python -m tasks.<stage>` runs one, `dvc repro` runs all."""
