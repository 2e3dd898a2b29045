"""Snow-accumulation forecasting from Snow Radar layers (seed 000): readers, units, simulator, graphs, GCN-LSTM."""

from nivalis.snow.io import Radargram, load_radargram, load_radargram_folder, load_radargrams, write_radargram

__all__ = ["Radargram", "load_radargram", "load_radargram_folder", "load_radargrams", "write_radargram"]
