"""Face verification (seed 004 §4, insightface's protocol): margin losses, face data formats, 10-fold verification."""

from nivalis.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".io": ("FaceFolder", "RecordIO", "VerificationPairs", "load_bin", "write_bin", "write_recordio"),
    ".losses": ("ArcFaceHead", "CosFaceHead", "MarginHead", "SoftmaxHead", "build_head"),
    ".partial_fc": ("ShardedMarginHead", "gather_classifier", "load_classifier"),
    ".sharded_train": ("fit_sharded",),
    ".commands": ("embed_files", "train_from_options", "verify_file"),
    ".train": ("FaceConfig", "load_face_model", "standin_config", "train_face", "verify_bin"),
    ".verify": ("embed_with_flip", "evaluate_pairs", "roc_csv", "verification_metrics"),
})
