"""Face verification (seed 004 §4, insightface's protocol): margin losses, face data formats, 10-fold verification."""

from nivalis.lazy import lazy_exports

_EXPORTS = {
    "FaceFolder": ".io",
    "RecordIO": ".io",
    "VerificationPairs": ".io",
    "load_bin": ".io",
    "write_bin": ".io",
    "write_recordio": ".io",
    "ArcFaceHead": ".losses",
    "CosFaceHead": ".losses",
    "MarginHead": ".losses",
    "SoftmaxHead": ".losses",
    "build_head": ".losses",
    "FaceConfig": ".train",
    "load_face_model": ".train",
    "standin_config": ".train",
    "train_face": ".train",
    "verify_bin": ".train",
    "embed_with_flip": ".verify",
    "evaluate_pairs": ".verify",
    "verification_metrics": ".verify",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
