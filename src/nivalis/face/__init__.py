"""Face verification (seed 004 §4, insightface's protocol): margin losses, face data formats, 10-fold verification."""

from nivalis.face.io import FaceFolder, RecordIO, VerificationPairs, load_bin, write_bin, write_recordio
from nivalis.face.losses import ArcFaceHead, CosFaceHead, MarginHead, SoftmaxHead, build_head
from nivalis.face.train import FaceConfig, load_face_model, standin_config, train_face, verify_bin
from nivalis.face.verify import embed_with_flip, evaluate_pairs, verification_metrics

__all__ = [
    "ArcFaceHead", "CosFaceHead", "FaceConfig", "FaceFolder", "MarginHead", "RecordIO", "SoftmaxHead",
    "VerificationPairs", "build_head", "embed_with_flip", "evaluate_pairs", "load_bin", "load_face_model",
    "standin_config", "train_face", "verification_metrics", "verify_bin", "write_bin", "write_recordio",
]
