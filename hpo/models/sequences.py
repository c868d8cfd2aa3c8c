"""The front end the sequence families (rnn, attention) share: input -> a (steps, dim) tensor.

Three kinds of input, told apart by the data:
- text (one string per example): TextVectorization, its vocabulary adapted on `x_train`
  (the train split only), then an Embedding with padding masked;
- token ids (steps,) of non-negative integers, when `x_train` shows them: an Embedding
  sized from the largest id (0 is padding and masked);
- numeric sequences (steps,) or (steps, features): fed as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.models.checks import ModelInputError, Options, check_choice, check_common
from hpo.models.common import COMMON_PARAMS, Params, Shape

if TYPE_CHECKING:
    import keras

# what `front_end` reads (the text front end; ignored for numeric sequences)
FRONT_END_PARAMS = {"max_tokens", "sequence_length", "embedding_dim"}
# what both sequence families take: the optimizer, the front end and the Dense head
SEQUENCE_PARAMS = COMMON_PARAMS | FRONT_END_PARAMS | {"dense_units", "dropout", "activation"}
CELLS = ("lstm", "gru")
ATTENTIONS = ("dot", "additive", "multihead")
POOLING_1D = ("average", "max")
ENCODERS = ("none", "lstm", "gru")


def check_sequence(options: Options, input_shape: Shape, is_text: bool) -> None:
    """The checks of both sequence families (rnn, attention)."""
    if not is_text and len(input_shape) not in (0, 1, 2):  # () is text
        raise ModelInputError(
            f"sequence models take text or sequences (steps,) / (steps, features); got input "
            f"shape {input_shape}",
            field="model.builder",
        )
    check_common(options)
    check_choice(options, "cell", CELLS)
    check_choice(options, "encoder", ENCODERS)
    check_choice(options, "attention", ATTENTIONS)
    check_choice(options, "pooling", POOLING_1D)
    for name in ("sequence_length", "max_tokens"):
        for value in options.get(name, ()):
            if int(value) < 2:
                raise ModelInputError(f"{name} must be >= 2 (got {value})", field=name)


def is_text(x_train: Any) -> bool:
    return isinstance(x_train, np.ndarray) and x_train.dtype == object


def _token_ids(x_train: Any, input_shape: Shape) -> int | None:
    """The vocabulary size when `x_train` holds integer token ids, else None."""
    if len(input_shape) != 1 or not isinstance(x_train, np.ndarray) or x_train.size == 0:
        return None
    if not np.issubdtype(x_train.dtype, np.number) or x_train.min() < 0:
        return None
    if not np.array_equal(x_train, np.round(x_train)):
        return None
    return int(x_train.max()) + 1


def front_end(
    params: Params, input_shape: Shape, x_train: Any
) -> tuple[keras.KerasTensor, list[keras.layers.Layer]]:
    """The model input and the layers that turn it into a sequence of vectors.

    Returned as layers (not a tensor) so Sequential and functional builders share it.
    """
    import keras

    embedding_dim = int(params.get("embedding_dim", 32))
    if is_text(x_train) or input_shape == ():
        if not is_text(x_train):
            raise ValueError(
                "a text model needs the training texts to fit its vocabulary: call "
                "build(params, input_shape, n_classes, x_train=texts)"
            )
        vectorize = keras.layers.TextVectorization(
            max_tokens=int(params.get("max_tokens", 10000)),
            output_sequence_length=int(params.get("sequence_length", 40)),
            name="vectorize",
        )
        vectorize.adapt(np.asarray(x_train, dtype=str))  # train split only
        embed = keras.layers.Embedding(
            vectorize.vocabulary_size(), embedding_dim, mask_zero=True, name="embed"
        )
        return keras.Input(shape=(), dtype="string", name="text"), [vectorize, embed]
    vocabulary = _token_ids(x_train, input_shape)
    if vocabulary is not None:
        embed = keras.layers.Embedding(vocabulary, embedding_dim, mask_zero=True, name="embed")
        return keras.Input(shape=input_shape, name="tokens"), [embed]
    inputs = keras.Input(shape=input_shape, name="sequence")
    if len(input_shape) == 1:
        return inputs, [keras.layers.Reshape((input_shape[0], 1), name="add_feature_axis")]
    return inputs, []
