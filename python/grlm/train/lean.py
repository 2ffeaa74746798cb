"""A lean model: the first layers of a causal LM, with its final norm and head.

On two CPU cores SmolLM2-135M with all 30 layers and LoRA fine-tunes at about 43 tokens/s; its
first 4 layers, fully fine-tuned with the catalog loss (:mod:`grlm.train.losses`), at about 700
(``bench/bench_lean_training.py``). The cut model is an ordinary Hugging Face model:
``save_pretrained`` writes a config with the new layer count and ``from_pretrained`` opens it.
"""

from __future__ import annotations

from grlm.errors import InvalidInputError


def _layer_list(model):
    """(owner, attribute name) of the decoder layer list: ``model.layers`` of Llama-family
    decoders, ``transformer.h`` of GPT-2-style models."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    if decoder is not None and hasattr(decoder, "layers"):
        return decoder, "layers"
    transformer = getattr(model, "transformer", None)
    if transformer is not None and hasattr(transformer, "h"):
        return transformer, "h"
    raise InvalidInputError(f"cannot find the decoder layers of {type(model).__name__}")


def keep_first_layers(model, keep: int):
    """Cuts ``model`` (in place) to its first ``keep`` decoder layers and returns it."""
    import torch

    owner, name = _layer_list(model)
    layers = getattr(owner, name)
    if not 1 <= keep <= len(layers):
        raise InvalidInputError(f"model.keep_layers must be in 1..{len(layers)}, got {keep}")
    setattr(owner, name, torch.nn.ModuleList(list(layers)[:keep]))
    config = model.config
    for field in ("num_hidden_layers", "n_layer"):
        if hasattr(config, field):
            setattr(config, field, keep)
    if getattr(config, "layer_types", None):
        config.layer_types = list(config.layer_types)[:keep]
    return model
