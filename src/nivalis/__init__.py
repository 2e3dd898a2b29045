"""nivalis: convolutional and graph-convolutional networks for snow and ice remote sensing."""

__version__ = "0.1.0"
