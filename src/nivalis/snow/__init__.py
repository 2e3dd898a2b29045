"""Snow-accumulation forecasting from Snow Radar layers (seed 000): readers, units, simulator, graphs, GCN-LSTM."""

from nivalis.lazy import lazy_exports

_EXPORTS = {
    "Radargram": ".io",
    "load_radargram": ".io",
    "load_radargram_folder": ".io",
    "load_radargrams": ".io",
    "write_radargram": ".io",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
