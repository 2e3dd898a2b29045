"""AlexNet: nivalis names → torchvision's `alexnet`.

torchvision's `features` holds conv, ReLU, max-pool only: the five convolutions are `features.0|3|6|8|10`.
nivalis keeps a (parameter-free, Identity unless `lrn=True`) normalisation slot after the first two ReLUs,
so its convolutions are `features.0|4|8|10|12`. The classifiers agree (`classifier.1|4|6`). Only `lrn=False`
(torchvision's layout) has a published counterpart.
"""

RULES: tuple[tuple[str, str], ...] = (
    (r"^features\.4\.", "features.3."),
    (r"^features\.8\.", "features.6."),
    (r"^features\.10\.", "features.8."),
    (r"^features\.12\.", "features.10."),
)

SOURCES = {"torchvision": (RULES, {})}
