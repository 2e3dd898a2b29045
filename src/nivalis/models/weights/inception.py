"""Inception-ResNet-v2: nivalis names → timm's `inception_resnet_v2` (the TF-slim port).

timm: stem `conv2d_1a`, `conv2d_2a`, `conv2d_2b`, `conv2d_3b`, `conv2d_4a`, `mixed_5b`; `repeat.i` (10 × Block35),
`mixed_6a`, `repeat_1.i` (20 × Block17), `mixed_7a`, `repeat_2.i` (9 × Block8), `block8` (the last, no ReLU),
`conv2d_7b`, `classif`. Every BasicConv2d is `.conv` + `.bn` (BatchNorm eps 1e-3); each residual block's
linear 1×1 is `.conv2d`. Branch names (`branch0`..`branch3`, Sequential indices) are the same as nivalis's.
"""

RULES: tuple[tuple[str, str], ...] = (
    (r"^stem\.0\.", "conv2d_1a."),
    (r"^stem\.1\.", "conv2d_2a."),
    (r"^stem\.2\.", "conv2d_2b."),
    (r"^stem\.4\.", "conv2d_3b."),
    (r"^stem\.5\.", "conv2d_4a."),
    (r"^stem\.7\.", "mixed_5b."),
    (r"^repeat_35\.", "repeat."),
    (r"^reduction_a\.", "mixed_6a."),
    (r"^repeat_17\.", "repeat_1."),
    (r"^reduction_b\.", "mixed_7a."),
    (r"^repeat_8\.9\.", "block8."),
    (r"^repeat_8\.", "repeat_2."),
    (r"^head\.", "conv2d_7b."),
    (r"^fc\.", "classif."),
    (r"\.up\.", ".conv2d."),
    # ConvBnAct → BasicConv2d
    (r"\.0\.weight$", ".conv.weight"),
    (r"\.1\.(weight|bias|running_mean|running_var|num_batches_tracked)$", r".bn.\1"),
)

SOURCES = {"timm": (RULES, {"eps": 1e-3})}

# ConvBnAct (`.0` conv, `.1` BN) → torchvision's BasicConv2d (`.conv`, `.bn`), applied last
_BASIC_CONV: tuple[tuple[str, str], ...] = (
    (r"\.0\.weight$", ".conv.weight"),
    (r"\.1\.(weight|bias|running_mean|running_var|num_batches_tracked)$", r".bn.\1"),
)

#: GoogLeNet → torchvision `googlenet`: conv1-3, inception3a..5b, aux1/aux2 (conv, fc1, fc2), fc.
GOOGLENET_RULES: tuple[tuple[str, str], ...] = (
    (r"^stem\.0\.", "conv1."),
    (r"^stem\.2\.", "conv2."),
    (r"^stem\.3\.", "conv3."),
    (r"^stage3\.0\.", "inception3a."),
    (r"^stage3\.1\.", "inception3b."),
    (r"^stage4a\.", "inception4a."),
    (r"^stage4bd\.0\.", "inception4b."),
    (r"^stage4bd\.1\.", "inception4c."),
    (r"^stage4bd\.2\.", "inception4d."),
    (r"^stage4e\.0\.", "inception4e."),
    (r"^stage5\.0\.", "inception5a."),
    (r"^stage5\.1\.", "inception5b."),
    *_BASIC_CONV,
)

#: Inception v3 → torchvision `inception_v3`: Conv2d_1a_3x3 … Conv2d_4a_3x3, Mixed_5b-5d (InceptionA), Mixed_6a
#: (B), Mixed_6b-6e (C), AuxLogits, Mixed_7a (D), Mixed_7b-7c (E), fc; nivalis numbers the convolutions of a
#: branch as Sequential indices where torchvision suffixes them (`branch5x5.1` ↔ `branch5x5_2`).
INCEPTION_V3_RULES: tuple[tuple[str, str], ...] = (
    (r"^stem\.0\.", "Conv2d_1a_3x3."),
    (r"^stem\.1\.", "Conv2d_2a_3x3."),
    (r"^stem\.2\.", "Conv2d_2b_3x3."),
    (r"^stem\.4\.", "Conv2d_3b_1x1."),
    (r"^stem\.5\.", "Conv2d_4a_3x3."),
    (r"^mixed_35\.0\.", "Mixed_5b."),
    (r"^mixed_35\.1\.", "Mixed_5c."),
    (r"^mixed_35\.2\.", "Mixed_5d."),
    (r"^mixed_17\.0\.", "Mixed_6a."),
    (r"^mixed_17\.1\.", "Mixed_6b."),
    (r"^mixed_17\.2\.", "Mixed_6c."),
    (r"^mixed_17\.3\.", "Mixed_6d."),
    (r"^mixed_17\.4\.", "Mixed_6e."),
    (r"^aux\.", "AuxLogits."),
    (r"^mixed_8\.0\.branch3x3\.0\.", "Mixed_7a.branch3x3_1."),
    (r"^mixed_8\.0\.branch3x3\.1\.", "Mixed_7a.branch3x3_2."),
    (r"^mixed_8\.0\.", "Mixed_7a."),
    (r"^mixed_8\.1\.", "Mixed_7b."),
    (r"^mixed_8\.2\.", "Mixed_7c."),
    *[(rf"\.branch5x5\.{i}\.", f".branch5x5_{i + 1}.") for i in range(2)],
    *[(rf"\.branch3x3dbl\.{i}\.", f".branch3x3dbl_{i + 1}.") for i in range(3)],
    *[(rf"\.branch7x7\.{i}\.", f".branch7x7_{i + 1}.") for i in range(3)],
    *[(rf"\.branch7x7dbl\.{i}\.", f".branch7x7dbl_{i + 1}.") for i in range(5)],
    *[(rf"\.branch7x7x3\.{i}\.", f".branch7x7x3_{i + 1}.") for i in range(4)],
    (r"^(Mixed_7[bc])\.branch3x3dbl_1\.0\.", r"\1.branch3x3dbl_1."),  # InceptionE: 1×1, 3×3 before the split
    (r"^(Mixed_7[bc])\.branch3x3dbl_1\.1\.", r"\1.branch3x3dbl_2."),
    (r"\.branch_pool\.1\.", ".branch_pool."),
    *_BASIC_CONV,
)

#: torchvision's pretrained GoogLeNet / Inception v3: BN eps 1e-3 and `transform_input` on
_TORCHVISION_TF = {"eps": 1e-3, "transform_input": True}
GOOGLENET_SOURCES = {"torchvision": (GOOGLENET_RULES, _TORCHVISION_TF)}
INCEPTION_V3_SOURCES = {"torchvision": (INCEPTION_V3_RULES, _TORCHVISION_TF)}
#: auxiliary classifiers: re-initialised with the main one when the classes differ; ignored in a file when the
#: model is built without them
AUX_HEADS = {"GoogLeNet": ("aux1.fc2", "aux2.fc2"), "InceptionV3": ("aux.fc",)}
AUX_FILE_NAMES = {"GoogLeNet": r"^aux[12]\.", "InceptionV3": r"^AuxLogits\."}
