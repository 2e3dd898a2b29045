"""VGG (with and without BN): nivalis uses torchvision's names (`features.i`, `classifier.0|3|6`): identity.

The layer order is the paper's (conv → [BN] → ReLU per width, max-pool per "M"), which is also torchvision's,
so the Sequential indices agree; the test builds both name lists and checks it.
"""

RULES: tuple[tuple[str, str], ...] = ()

SOURCES = {"torchvision": (RULES, {})}
