"""The pipeline's stages, one module each (`python -m tasks.<stage>`), and predict.

Their parts live in subpackages named for what they are: core (params, paths, CLI, errors,
atomic I/O), sources (the sample and safe extraction), contract (the image contract),
networks (models and augmentation), runtime (training machinery), reports and formats.
"""
from tasks.core import native_log

native_log.install()  # TensorFlow's native start-up lines, filtered at its first import (any stage)
