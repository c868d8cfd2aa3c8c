"""Attention family: functional models over sequences with a self-attention block.

`attention` picks the layer: `dot` (keras.layers.Attention, Luong-style dot product),
`additive` (AdditiveAttention, Bahdanau-style) or `multihead` (MultiHeadAttention). Each
attends over the sequence itself, adds a residual connection and a LayerNormalization,
then pools over time into a Dense head. Functional construction because attention takes
two inputs (query and value) and the residual branches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.models.checks import as_options
from hpo.models.common import Params, Shape, compile_classifier
from hpo.models.sequences import SEQUENCE_PARAMS, check_sequence, front_end, is_text

if TYPE_CHECKING:
    from keras import Model

# the self-attention block and the optional recurrent encoder before it
ATTENTION_PARAMS = {"attention", "num_heads", "key_dim", "encoder", "encoder_units", "pooling"}
PARAMS = SEQUENCE_PARAMS | ATTENTION_PARAMS
check = check_sequence


def build(params: Params, input_shape: Shape, n_classes: int, *, x_train: Any = None) -> Model:
    """An optional recurrent `encoder` gives attention word order (plain embeddings have
    none); numeric sequences are first projected to `embedding_dim`."""
    import keras

    check(as_options(params), tuple(input_shape), is_text(x_train))
    inputs, front = front_end(params, tuple(input_shape), x_train)
    x = inputs
    for layer in front:
        x = layer(x)
    if not is_text(x_train) and all(layer.name != "embed" for layer in front):
        x = keras.layers.Dense(int(params.get("embedding_dim", 32)), name="project")(x)

    encoder = str(params.get("encoder", "none"))
    if encoder != "none":
        cell = keras.layers.GRU if encoder == "gru" else keras.layers.LSTM
        x = keras.layers.Bidirectional(
            cell(int(params.get("encoder_units", 32)), return_sequences=True), name="encoder"
        )(x)

    kind = str(params.get("attention", "multihead"))
    dropout = float(params.get("dropout", 0.0))
    if kind == "dot":
        attended = keras.layers.Attention(use_scale=True, dropout=dropout, name="attend")([x, x])
    elif kind == "additive":
        attended = keras.layers.AdditiveAttention(dropout=dropout, name="attend")([x, x])
    else:
        attended = keras.layers.MultiHeadAttention(
            num_heads=int(params.get("num_heads", 2)),
            key_dim=int(params.get("key_dim", 16)),
            dropout=dropout,
            name="attend",
        )(x, x)
    x = keras.layers.LayerNormalization(name="norm")(
        keras.layers.Add(name="residual")([x, attended])
    )

    if params.get("pooling", "average") == "max":
        x = keras.layers.GlobalMaxPooling1D(name="pool")(x)
    else:
        x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    dense_units = int(params.get("dense_units", 32))
    if dense_units > 0:
        x = keras.layers.Dense(
            dense_units, activation=str(params.get("activation", "relu")), name="head"
        )(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="classes")(x)
    return compile_classifier(keras.Model(inputs, outputs, name=f"attention_{kind}"), params)
