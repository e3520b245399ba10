"""Captures: files of frames back to back, batch-decoded into numpy rows in the nogil loop
(decode_batch, iter_batches), read one message at a time with the same recovery
(iter_messages), sealed back (encode_batch), exported (Parquet, Arrow, CSV, .npz, JSON lines)
and summarised (capture_stats). Stands on schemas and the wire core."""
from .batch import (BadStretch, BatchResult, RefusedSchema, cached_buffer_bytes, decode_batch,
                    encode_batch, iter_batches, release_buffers)
from .stats import CaptureStats, capture_stats
from .stream import MessageStream, iter_messages

__all__ = ["BadStretch", "BatchResult", "RefusedSchema", "cached_buffer_bytes", "decode_batch",
           "encode_batch", "iter_batches", "release_buffers", "CaptureStats", "capture_stats",
           "MessageStream", "iter_messages"]
