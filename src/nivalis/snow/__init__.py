"""Snow-accumulation forecasting from Snow Radar layers (seed 000): readers, units, simulator, graphs, GCN-LSTM."""

from nivalis.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".readers.radargram": ("Radargram",),
    ".readers.dispatch": ("load_radargram", "load_radargram_folder", "load_radargrams"),
    ".readers.layers_vector": ("write_radargram",),
})

