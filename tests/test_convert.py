"""The Hugging Face twins: genpt <-> OpenAIGPTLMHeadModel (post-LN) and GPT2LMHeadModel (pre-LN)."""

import pytest
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    OpenAIGPTConfig,
    OpenAIGPTLMHeadModel,
)

from genpt.config import GPTConfig
from genpt.convert import from_hf_model, to_hf_model
from genpt.errors import GenptError
from genpt.models.gpt import GPT

TWINS = [(False, OpenAIGPTLMHeadModel), (True, GPT2LMHeadModel)]


def random_model(prenorm: bool) -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=1000, n_positions=64, n_layer=3, n_head=4, n_embd=64, prenorm=prenorm)
    model = GPT(config).eval()
    with torch.no_grad():  # non-trivial LayerNorms and biases, so no tensor hides a mistake
        for name, param in model.named_parameters():
            if "ln" in name or name.endswith("bias"):
                param.add_(0.1 * torch.randn_like(param))
    return model


@pytest.mark.parametrize("prenorm, hf_class", TWINS)
def test_genpt_to_transformers_gives_equal_logits(prenorm, hf_class):
    model = random_model(prenorm)
    twin = to_hf_model(model).eval()
    assert type(twin) is hf_class
    tokens = torch.randint(0, 1000, (3, 64), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, theirs = model(tokens).logits, twin(tokens).logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("prenorm, hf_class", TWINS)
def test_round_trip_returns_the_same_state_dict(prenorm, hf_class):
    model = random_model(prenorm)
    back = from_hf_model(to_hf_model(model))
    assert back.config == GPTConfig(**{**model.config.to_dict(), "name": back.config.name})
    ours, theirs = model.state_dict(), back.state_dict()
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name


@pytest.mark.parametrize(
    "hf_config",
    [
        OpenAIGPTConfig(vocab_size=500, n_positions=32, n_embd=48, n_layer=2, n_head=4),
        GPT2Config(vocab_size=500, n_positions=32, n_embd=48, n_layer=2, n_head=4, activation_function="gelu_new"),
    ],
    ids=["openai-gpt", "gpt2"],
)
def test_transformers_model_built_from_a_config_converts_to_equal_logits(hf_config):
    torch.manual_seed(0)
    hf_model = type(hf_config).__name__.replace("Config", "LMHeadModel")
    hf_model = {"OpenAIGPTLMHeadModel": OpenAIGPTLMHeadModel, "GPT2LMHeadModel": GPT2LMHeadModel}[hf_model](hf_config).eval()
    model = from_hf_model(hf_model).eval()
    tokens = torch.randint(0, 500, (2, 32))
    with torch.no_grad():
        torch.testing.assert_close(model(tokens).logits, hf_model(tokens).logits, rtol=0, atol=1e-5)


def test_unrepresentable_configs_are_clear_errors():
    with pytest.raises(GenptError, match="tanh-approximated GELU"):
        to_hf_model(GPT(GPTConfig.from_name("tiny", activation="gelu")))
    with pytest.raises(GenptError, match="4 \\* n_embd"):
        to_hf_model(GPT(GPTConfig.from_name("tiny", n_inner=256)))
