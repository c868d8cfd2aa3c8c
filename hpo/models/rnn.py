"""RNN family: (TextVectorization -> Embedding) -> LSTM / GRU, optionally bidirectional and
stacked -> a Dense head.

Sequential: the model is a straight stack; text, token ids and numeric sequences only
change the first layers (see hpo/models/sequences.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.config.space import per_layer
from hpo.models.checks import as_options
from hpo.models.common import Params, Shape, compile_classifier
from hpo.models.sequences import SEQUENCE_PARAMS, check_sequence, front_end, is_text

if TYPE_CHECKING:
    from keras import Model

# the recurrent stack: `n_layers` layers of `units_i` (`units` for every layer)
RECURRENT_PARAMS = {"cell", "bidirectional", "recurrent_dropout", "n_layers", "units", "units_*"}
PARAMS = SEQUENCE_PARAMS | RECURRENT_PARAMS
check = check_sequence


def build(params: Params, input_shape: Shape, n_classes: int, *, x_train: Any = None) -> Model:
    """`n_layers` recurrent layers of `units_i` (all but the last return sequences)."""
    import keras

    check(as_options(params), tuple(input_shape), is_text(x_train))
    cell = keras.layers.GRU if params.get("cell", "lstm") == "gru" else keras.layers.LSTM
    units = per_layer({"units": 32, **params}, "units")
    if not units:
        raise ValueError("the rnn builder needs at least one recurrent layer (n_layers >= 1)")
    inputs, front = front_end(params, tuple(input_shape), x_train)

    model = keras.Sequential(name="rnn")
    model.add(inputs)
    for layer in front:
        model.add(layer)
    for i, width in enumerate(units):
        recurrent = cell(
            int(width),
            return_sequences=i < len(units) - 1,
            dropout=float(params.get("dropout", 0.0)),
            recurrent_dropout=float(params.get("recurrent_dropout", 0.0)),
        )
        if params.get("bidirectional", False):
            recurrent = keras.layers.Bidirectional(recurrent)
        model.add(recurrent)
    dense_units = int(params.get("dense_units", 0))
    if dense_units > 0:
        model.add(keras.layers.Dense(dense_units, activation=str(params.get("activation", "relu"))))
    model.add(keras.layers.Dense(n_classes, activation="softmax"))
    return compile_classifier(model, params)
