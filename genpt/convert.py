"""Lossless conversion between the genpt GPT and its `transformers` twins.

post-LN (GPT-1)  <->  `OpenAIGPTLMHeadModel`   (the `openai-gpt` checkpoints)
pre-LN  (GPT-2)  <->  `GPT2LMHeadModel`        (the `gpt2` checkpoints)

Both Hugging Face classes store their projections in `Conv1D` modules, whose weight is
(in_features, out_features): the transpose of `nn.Linear`'s (out, in). Every transposed
tensor has its shape asserted on the way, so a wrong config can never load silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from genpt.config import GPTConfig
from genpt.errors import GenptError
from genpt.models.gpt import GPT

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel

# Per-block tensors: (genpt name, Hugging Face name, stored transposed in HF). The names
# agree; HF's Conv1D layers store their weight matrices transposed, LayerNorms do not.
BLOCK_TENSORS = tuple(
    (f"{layer}.{kind}", f"{layer}.{kind}", kind == "weight" and not layer.startswith("ln_"))
    for layer in ("attn.c_attn", "attn.c_proj", "ln_1", "mlp.c_fc", "mlp.c_proj", "ln_2")
    for kind in ("weight", "bias")
)

# activation name in genpt -> in GPT2Config. OpenAIGPTConfig's "gelu" is already the tanh
# approximation (transformers maps it to gelu_new), and it has no exact-erf GELU at all.
GPT2_ACTIVATIONS = {"gelu_tanh": "gelu_pytorch_tanh", "gelu": "gelu"}
GPT2_ACTIVATIONS_BACK = {"gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh", "gelu_fast": "gelu_tanh", "gelu": "gelu"}


def tensor_names(config: GPTConfig) -> list[tuple[str, str, bool]]:
    """(genpt name, HF name, transposed) for every tensor of a model with this config."""
    if config.prenorm:
        names = [("wte.weight", "transformer.wte.weight", False), ("wpe.weight", "transformer.wpe.weight", False)]
    else:
        names = [
            ("wte.weight", "transformer.tokens_embed.weight", False),
            ("wpe.weight", "transformer.positions_embed.weight", False),
        ]
    for layer in range(config.n_layer):
        names += [(f"h.{layer}.{ours}", f"transformer.h.{layer}.{theirs}", t) for ours, theirs, t in BLOCK_TENSORS]
    if config.prenorm:
        names += [("ln_f.weight", "transformer.ln_f.weight", False), ("ln_f.bias", "transformer.ln_f.bias", False)]
    return names


# ---- configs ---------------------------------------------------------------------------


# Config fields that genpt, OpenAIGPTConfig and GPT2Config all name alike.
SHARED_CONFIG_FIELDS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "resid_pdrop", "embd_pdrop",
                        "attn_pdrop", "layer_norm_epsilon", "initializer_range")


def to_hf_config(config: GPTConfig, **token_ids: int | None) -> PretrainedConfig:
    """The `transformers` config of the twin; `token_ids` sets bos/eos/pad_token_id."""
    from transformers import GPT2Config, OpenAIGPTConfig

    shared = dict(
        {name: getattr(config, name) for name in SHARED_CONFIG_FIELDS},
        tie_word_embeddings=True,
        # GPT2Config defaults these to 50256, the GPT-2 vocabulary's; ours differ.
        bos_token_id=token_ids.get("bos_token_id"),
        eos_token_id=token_ids.get("eos_token_id"),
        pad_token_id=token_ids.get("pad_token_id"),
    )
    if config.prenorm:
        return GPT2Config(**shared, n_inner=config.n_inner, activation_function=GPT2_ACTIVATIONS[config.activation])
    if config.activation != "gelu_tanh":
        raise GenptError("OpenAIGPT supports only the tanh-approximated GELU; set activation: gelu_tanh")
    if config.n_inner != 4 * config.n_embd:
        raise GenptError(f"OpenAIGPT fixes the FFN width at 4 * n_embd = {4 * config.n_embd}, got n_inner {config.n_inner}")
    return OpenAIGPTConfig(**shared, afn="gelu")


def from_hf_config(hf_config: PretrainedConfig) -> GPTConfig:
    model_type = hf_config.model_type
    shared = {name: getattr(hf_config, name) for name in SHARED_CONFIG_FIELDS}
    if model_type == "openai-gpt":
        if hf_config.afn != "gelu":
            raise GenptError(f"OpenAIGPT activation {hf_config.afn!r} is not supported; expected 'gelu'")
        return GPTConfig(**shared, name="openai-gpt", prenorm=False, activation="gelu_tanh")
    if model_type == "gpt2":
        activation = GPT2_ACTIVATIONS_BACK.get(hf_config.activation_function)
        if activation is None:
            raise GenptError(
                f"GPT-2 activation {hf_config.activation_function!r} is not supported; "
                f"expected one of {sorted(GPT2_ACTIVATIONS_BACK)}"
            )
        if getattr(hf_config, "scale_attn_by_inverse_layer_idx", False) or getattr(hf_config, "reorder_and_upcast_attn", False):
            raise GenptError("GPT-2 configs with scale_attn_by_inverse_layer_idx or reorder_and_upcast_attn are not supported")
        if not getattr(hf_config, "scale_attn_weights", True):
            raise GenptError("GPT-2 configs with scale_attn_weights=False are not supported")
        return GPTConfig(**shared, name="gpt2", prenorm=True, activation=activation, n_inner=hf_config.n_inner)
    raise GenptError(f"model type {model_type!r} is not supported; expected 'openai-gpt' or 'gpt2'")


# ---- weights ---------------------------------------------------------------------------


def to_hf_state_dict(state_dict: dict[str, torch.Tensor], config: GPTConfig) -> dict[str, torch.Tensor]:
    converted = {}
    for ours, theirs, transposed in tensor_names(config):
        tensor = state_dict[ours]
        converted[theirs] = _transpose_checked(tensor, ours) if transposed else tensor
    # The output layer is the token embedding in both models (tied weights).
    converted["lm_head.weight"] = converted[tensor_names(config)[0][1]]
    return converted


def from_hf_state_dict(state_dict: dict[str, torch.Tensor], config: GPTConfig) -> dict[str, torch.Tensor]:
    names = tensor_names(config)
    missing = [theirs for _, theirs, _ in names if theirs not in state_dict]
    if missing:
        raise GenptError(f"Hugging Face checkpoint lacks {len(missing)} tensors for this config, e.g. {missing[0]}")
    converted = {ours: _transpose_checked(state_dict[theirs], theirs) if t else state_dict[theirs] for ours, theirs, t in names}
    lm_head = state_dict.get("lm_head.weight")
    if lm_head is not None and not torch.equal(lm_head, converted["wte.weight"]):
        raise GenptError("the checkpoint's output layer is not tied to its token embedding; genpt ties them")
    converted["lm_head.weight"] = converted["wte.weight"]
    return converted


def _transpose_checked(tensor: torch.Tensor, name: str) -> torch.Tensor:
    if tensor.dim() != 2:
        raise GenptError(f"{name}: expected a 2-D weight to transpose, got shape {tuple(tensor.shape)}")
    transposed = tensor.t().contiguous()
    assert transposed.shape == tensor.shape[::-1], name
    return transposed


# ---- whole models ----------------------------------------------------------------------


def to_hf_model(model: GPT, **token_ids: int | None) -> PreTrainedModel:
    """A `transformers` LM head model computing exactly what `model` computes;
    `token_ids` (bos/eos/pad_token_id) go into its config."""
    from transformers import GPT2LMHeadModel, OpenAIGPTLMHeadModel

    hf_config = to_hf_config(model.config, **token_ids)
    hf_class = GPT2LMHeadModel if model.config.prenorm else OpenAIGPTLMHeadModel
    hf_model = hf_class(hf_config)
    state_dict = to_hf_state_dict(model.state_dict(), model.config)
    _check_shapes(hf_model.state_dict(), state_dict)
    hf_model.load_state_dict(state_dict, strict=True)
    return hf_model.to(next(model.parameters()).dtype)


def from_hf_model(hf_model: PreTrainedModel) -> GPT:
    config = from_hf_config(hf_model.config)
    model = GPT(config)
    state_dict = from_hf_state_dict(hf_model.state_dict(), config)
    _check_shapes(model.state_dict(), state_dict)
    model.load_state_dict(state_dict, strict=True)
    return model.to(next(hf_model.parameters()).dtype)


def _check_shapes(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> None:
    for name, tensor in given.items():
        if name in expected and expected[name].shape != tensor.shape:
            raise GenptError(f"{name}: expected shape {tuple(expected[name].shape)}, got {tuple(tensor.shape)}")
