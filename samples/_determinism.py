"""What both training scripts share: TensorFlow and Keras made deterministic before anything is built."""

from __future__ import annotations

import os


def configure_determinism(seed: int = 0) -> None:
    """One intra-op pool of 2 threads, deterministic ops, and every random generator seeded."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
