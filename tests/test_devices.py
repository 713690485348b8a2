"""The device contract (issue 15): every tensor the models, ops, heads, decoding and loops make
lives on the device of their inputs, and training steps make no host sync.

Tests run on `cpu` always, on `cuda` when there is one, and on `meta` wherever the path has
no data-dependent control flow: the meta device has no data, so a tensor built on the CPU by
default (no `device=`) meets a meta tensor and fails loudly. That is how these bugs were
found on a machine without a GPU.
"""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from genpt.baselines.config import Seq2SeqConfig
from genpt.baselines.seq2seq import Encoded, EncoderDecoderCollator, GPTCollator, decoder_inputs, validation_loss_sums
from genpt.config import GPTConfig
from genpt.data.transformations import SpecialIds
from genpt.engine import StepLoss, Window, steps_per_epoch
from genpt.models import ops
from genpt.models.architectures import baseline_config, build_task_model
from genpt.models.gpt import GPT

CUDA = ["cuda"] if torch.cuda.is_available() else []
DEVICES = ["cpu", "meta", *CUDA]  # paths without data-dependent control flow
DATA_DEVICES = ["cpu", *CUDA]  # paths that look at values (early stopping in decoding)
TINY = dict(name="test", vocab_size=97, n_positions=32, n_layer=2, n_head=2, n_embd=16, n_inner=64)
IDS = SpecialIds(start=2, delim=3, extract=4, pad=1)


def on(device: str, build):
    """Build a module's parameters directly on `device`, as users do with `torch.device(...)`."""
    with torch.device(device):
        torch.manual_seed(0)
        return build()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("prenorm", [False, True], ids=["post-LN", "pre-LN"])
def test_gpt_trains_on_the_device_with_and_without_padding(device, prenorm):
    model = on(device, lambda: GPT(GPTConfig(**TINY, prenorm=prenorm)))
    ids = torch.randint(5, 97, (3, 10), device=device)
    mask = torch.ones(3, 10, dtype=torch.long, device=device)
    mask[0, 7:] = 0
    for attention_mask in (None, mask):  # a mask is applied without asking the host whether it pads
        out = model(ids, attention_mask, labels=ids, return_logits=False)
        out.loss.backward()
        assert out.loss.device.type == device and out.hidden_states.device.type == device
        full = model(ids, attention_mask, labels=ids)
        assert full.logits.device.type == device


@pytest.mark.parametrize("device", DEVICES)
def test_cached_generation_stays_on_the_device(device):
    """The bug: each cached step after the first built its causal mask on the CPU."""
    model = on(device, lambda: GPT(GPTConfig(**TINY))).eval()
    prompt = torch.randint(5, 97, (2, 5), device=device)
    out = model.generate(prompt, 8, temperature=0.0)
    assert out.shape == (2, 13) and out.device.type == device
    sampled = model.generate(prompt, 4, temperature=1.0, top_k=5, top_p=0.9)
    assert sampled.device.type == device


@pytest.mark.parametrize("device", DEVICES)
def test_fused_losses_and_dropout_stay_on_the_device(device):
    hidden = torch.randn(12, 16, device=device, requires_grad=True)
    weight = torch.randn(97, 16, device=device, requires_grad=True)
    targets = torch.randint(0, 97, (12,), device=device)
    loss = ops.linear_cross_entropy(hidden, weight, targets)
    loss.backward()
    assert loss.device.type == device and hidden.grad.device.type == device
    logits = torch.randn(12, 97, device=device, requires_grad=True)
    ops.cross_entropy(logits, targets).backward()
    assert logits.grad.device.type == device
    x = torch.randn(4, 2, 8, 8, device=device)
    y = ops.attention(x, x, x, dropout_p=0.1, is_causal=True)
    assert y.device.type == device and ops.Dropout(0.1).train()(x).device.type == device


@pytest.mark.parametrize("kernel", ["cross_entropy", "linear_cross_entropy"])
def test_a_batch_with_every_label_ignored_gives_the_reference_behaviour(kernel):
    """F.cross_entropy: a NaN loss and zero gradients. genpt's kernels gave NaN gradients,
    which would silently poison the weights."""
    torch.manual_seed(0)
    hidden, weight = torch.randn(6, 8, requires_grad=True), torch.randn(11, 8, requires_grad=True)
    targets = torch.full((6,), -100)
    if kernel == "cross_entropy":
        loss = ops.cross_entropy(hidden @ weight.t(), targets)
    else:
        loss = ops.linear_cross_entropy(hidden, weight, targets)
    reference_h, reference_w = hidden.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
    reference = F.cross_entropy(reference_h @ reference_w.t(), targets)
    loss.backward()
    reference.backward()
    assert torch.isnan(loss) and torch.isnan(reference)
    torch.testing.assert_close(hidden.grad, reference_h.grad, rtol=0, atol=0)
    torch.testing.assert_close(weight.grad, reference_w.grad, rtol=0, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", ["gpt", "transformer", "lstm"])
@pytest.mark.parametrize("input_format", ["single", "similarity", "multiple_choice"])
def test_task_heads_train_on_the_device(device, arch, input_format):
    if arch == "lstm" and device == "meta":
        pytest.skip("the LSTM packs its sequences by their lengths, which it reads on the host")
    if arch == "gpt":
        config = GPTConfig(**TINY)
    else:
        config = baseline_config(arch, "tiny", 97, IDS.pad)
    regression = input_format == "similarity"
    model = on(device, lambda: build_task_model(arch, config, input_format, 1 if regression or input_format == "multiple_choice"
                                                else 3, regression=regression))
    K = 1 if input_format == "single" else 2
    ids = torch.randint(5, 97, (4, K, 9), device=device)
    mask = torch.ones(4, K, 9, dtype=torch.long, device=device)
    mask[1, :, 6:] = 0
    labels = (torch.rand(4, device=device) if regression else torch.randint(0, K if input_format == "multiple_choice" else 3, (4,),
                                                                             device=device))
    out = model(ids, mask, labels, aux_lm_weight=0.0 if arch == "transformer" else 0.5)
    out.loss.backward()
    assert out.logits.device.type == device and model.predict(out.logits).device.type == device


@pytest.mark.parametrize("device", DATA_DEVICES)
@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_encoder_decoders_decode_on_the_device(device, arch):
    config = baseline_config(arch, "tiny", 97, IDS.pad)
    model = on(device, lambda: build_task_model(arch, config, "single", 2).encoder).eval()
    src = torch.randint(5, 97, (3, 7), device=device)
    mask = torch.ones(3, 7, dtype=torch.long, device=device)
    for beams in (1, 3):
        out = model.generate(src, mask, IDS.start, IDS.extract, 6, num_beams=beams)
        assert out.device.type == device


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", ["gpt", "transformer"])
def test_seq2seq_evaluation_runs_on_the_model_device(device, arch):
    """The bug: validation batches and decoding prompts were built on the CPU and never moved."""
    config = Seq2SeqConfig(arch=arch, data_dir="unused", max_target_length=6)
    if arch == "gpt":
        model = on(device, lambda: GPT(GPTConfig(**TINY)))
        collate = GPTCollator(IDS, TINY["n_positions"])
    else:
        from genpt.models.encoder_decoder import EncoderDecoder

        model = on(device, lambda: EncoderDecoder(baseline_config(arch, "tiny", 97, IDS.pad)))
        collate = EncoderDecoderCollator(IDS)
    data = [Encoded([10, 11, 12], [20, 21]), Encoded([13], [22, 23, 24])]
    total, tokens = validation_loss_sums(model, data, collate, arch, batch_size=2)
    assert total.device.type == device and tokens.device.type == device
    inputs = decoder_inputs(model, data, IDS, config)
    assert inputs["ids"].device.type == device and inputs["mask"].device.type == device


def test_steps_per_epoch_count_every_process():
    assert steps_per_epoch(1000, 32, 1) == 32
    assert steps_per_epoch(1000, 32, 4) == 8  # seq2seq counted one process: four times the steps of an epoch


def test_a_training_steps_bookkeeping_never_reads_a_value():
    """Losses are summed on the device; only the log line reads them (meta has no values to read)."""
    window = Window()
    for _ in range(3):
        loss = torch.ones((), device="meta")
        window.add(StepLoss(loss, {"task_loss": loss}, examples=8, tokens=(torch.ones(4, device="meta") > 0).sum()))
    assert window.sums["loss"].device.type == "meta" and window.micro_batches == 3 and window.examples == 24


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the CPU's flags from Linux's /proc/cpuinfo")
def test_bf16_is_chosen_only_where_the_cpu_has_bf16_instructions():
    # oneDNN calls bf16 "supported" on any AVX-512 CPU, where it is emulated and a training step
    # ran 2.5x slower than fp32: auto precision must follow the instructions, not oneDNN.
    from genpt.training import cpu_computes_bf16

    flags = Path("/proc/cpuinfo").read_text().split()
    assert cpu_computes_bf16() == any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


@pytest.mark.parametrize("capability, expected", [((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"), ((9, 0), "bf16")])
def test_auto_precision_on_a_gpu_is_bf16_only_from_ampere(monkeypatch, capability, expected):
    """A V100 or T4 would emulate bf16 (slowly); fp16 with loss scaling is what they compute."""
    from genpt.training import resolve_mixed_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.version, "hip", None)
    assert resolve_mixed_precision("auto") == expected
    assert resolve_mixed_precision("no") == "no"


def test_private_apis_have_fallbacks(monkeypatch):
    from accelerate.state import AcceleratorState

    from genpt.training import cpu_computes_bf16, reset_accelerate_state

    expected = cpu_computes_bf16()
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    assert cpu_computes_bf16() == expected  # the CPU's flags say the same
    monkeypatch.delattr(AcceleratorState, "_reset_state")
    reset_accelerate_state()  # a no-op rather than an AttributeError
