"""Captures: files of frames back to back, batch-decoded into numpy rows in the nogil loop
(decode_batch, iter_batches), sealed back (encode_batch), exported (Parquet, Arrow, CSV, .npz,
JSON lines) and summarised (capture_stats). Stands on schemas and the wire core."""
from .batch import (
    BadStretch,
    BatchResult,
    cached_buffer_bytes,
    decode_batch,
    encode_batch,
    iter_batches,
    release_buffers,
)
from .stats import CaptureStats, capture_stats

__all__ = ["BadStretch", "BatchResult", "decode_batch", "encode_batch", "iter_batches",
           "release_buffers", "cached_buffer_bytes", "CaptureStats", "capture_stats"]
