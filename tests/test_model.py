"""The GPT model: causality, padding, initial loss, parameter counts, sampling, kernels."""

import math

import pytest
import torch
import torch.nn.functional as F

from genpt.config import GPTConfig
from genpt.errors import GenptError
from genpt.models import ops
from genpt.models.gpt import (
    GPT,
    KVCache,
    padding_aware_causal_mask,
    parameter_counts,
    sample_next_token,
)


def tiny_model(prenorm: bool = False, **overrides) -> GPT:
    torch.manual_seed(0)
    config = GPTConfig.from_name("tiny", prenorm=prenorm, **overrides)
    return GPT(config).eval()


@pytest.mark.parametrize("prenorm", [False, True])
def test_changing_future_tokens_never_changes_past_logits(prenorm):
    model = tiny_model(prenorm)
    tokens = torch.randint(0, model.config.vocab_size, (2, 40))
    for t in (0, 17, 38):
        changed = tokens.clone()
        changed[:, t + 1 :] = torch.randint(0, model.config.vocab_size, changed[:, t + 1 :].shape)
        with torch.no_grad():
            before, after = model(tokens).logits, model(changed).logits
        torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1], rtol=0, atol=1e-5)
        assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])  # the future did change


@pytest.mark.parametrize("prenorm", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_never_changes_real_token_outputs(prenorm, side):
    model = tiny_model(prenorm)
    lengths = [23, 9, 30]
    width = max(lengths)
    sequences = [torch.randint(5, model.config.vocab_size, (n,)) for n in lengths]
    padded = torch.full((len(lengths), width), 1)  # 1 is an arbitrary pad id
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, seq in enumerate(sequences):
        span = slice(0, len(seq)) if side == "right" else slice(width - len(seq), width)
        padded[row, span], mask[row, span] = seq, 1
    with torch.no_grad():
        batched = model(padded, attention_mask=mask)
        for row, seq in enumerate(sequences):
            alone = model(seq[None]).hidden_states[0]  # (n, C)
            real = batched.hidden_states[row][mask[row].bool()]
            torch.testing.assert_close(real, alone, rtol=0, atol=1e-5)
    assert torch.isfinite(batched.logits).all()  # padding queries never produce NaN


@pytest.mark.parametrize("prenorm", [False, True])
def test_initial_loss_is_close_to_uniform(prenorm):
    model = tiny_model(prenorm)
    tokens = torch.randint(0, model.config.vocab_size, (4, 64))
    loss = model(tokens, labels=tokens).loss.item()
    assert abs(loss - math.log(model.config.vocab_size)) < 0.3


def test_loss_is_next_token_cross_entropy_and_ignores_minus_100():
    model = tiny_model()
    tokens = torch.randint(0, model.config.vocab_size, (2, 16))
    labels = tokens.clone()
    labels[0, 10:] = -100
    out = model(tokens, labels=labels)
    logits, targets = out.logits[:, :-1], labels[:, 1:]
    expected = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)


def test_gpt1_preset_has_the_papers_parameter_count():
    counts = parameter_counts(GPTConfig.from_name("gpt1"))
    assert counts["total"] == pytest.approx(116.5e6, rel=0.005)
    # tied output layer: counted once; embeddings are 40,478 x 768 plus 512 x 768
    assert counts["total"] - counts["non_embedding"] == (40478 + 512) * 768


@pytest.mark.parametrize("preset, millions", [("tiny", 1.0), ("mini", 10.0)])
def test_cpu_presets_have_their_advertised_size(preset, millions):
    assert parameter_counts(GPTConfig.from_name(preset))["total"] == pytest.approx(millions * 1e6, rel=0.2)


def test_weights_are_tied_and_initialised_as_in_the_paper():
    model = GPT(GPTConfig.from_name("mini"))
    assert model.lm_head.weight is model.wte.weight
    assert model.h[0].mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(model.h[0].attn.c_attn.bias) == 0


def test_longer_than_context_is_an_error():
    model = tiny_model()
    with pytest.raises(ValueError, match="longer than the context"):
        model(torch.zeros(1, model.config.n_positions + 1, dtype=torch.long))


def recomputed_continuation(model: GPT, prompt: torch.Tensor, steps: int, generator=None, **sampling) -> torch.Tensor:
    """generate() without its cache: every step reruns the (cropped) window."""
    tokens = prompt
    for _ in range(steps):
        with torch.no_grad():
            logits = model(tokens[:, -model.config.n_positions :]).logits[:, -1]
        tokens = torch.cat([tokens, sample_next_token(logits, generator=generator, **sampling)[:, None]], dim=1)
    return tokens


@pytest.mark.parametrize("prenorm", [False, True])
def test_generate_with_its_cache_equals_recomputing_every_step_also_past_the_window(prenorm):
    model = tiny_model(prenorm, n_positions=12)
    prompt = torch.randint(0, model.config.vocab_size, (2, 5))
    steps = 20  # the sequence reaches the 12-token window after 7 and then slides
    greedy = model.generate(prompt, max_new_tokens=steps, temperature=0.0)
    assert greedy.shape == (2, 5 + steps)
    assert torch.equal(greedy, recomputed_continuation(model, prompt, steps, temperature=0.0))
    sampled = model.generate(prompt, steps, top_k=50, generator=torch.Generator().manual_seed(3))
    expected = recomputed_continuation(model, prompt, steps, generator=torch.Generator().manual_seed(3), top_k=50)
    assert torch.equal(sampled, expected)
    assert not torch.equal(sampled, greedy)  # the sampling comparison is not greedy in disguise


def test_the_cache_returns_every_position_so_far_and_refuses_more_than_its_capacity():
    cache = KVCache(n_layer=1, capacity=5)
    layer = cache.layers[0]
    first = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 4, 8)  # (B, nh, T, hs)
    layer.extend(*first)
    new = torch.randn(2, 3, 1, 8), torch.randn(2, 3, 1, 8)
    keys, values = layer.extend(*new)
    assert cache.length == 5
    assert torch.equal(keys, torch.cat([first[0], new[0]], dim=2))
    assert torch.equal(values, torch.cat([first[1], new[1]], dim=2))
    with pytest.raises(ValueError, match="holds 5 positions"):
        layer.extend(*new)


def test_generate_top_k_1_and_tiny_top_p_are_greedy():
    model = tiny_model()
    prompt = torch.randint(0, model.config.vocab_size, (2, 5))
    greedy = model.generate(prompt, max_new_tokens=6, temperature=0.0)
    assert torch.equal(model.generate(prompt, 6, temperature=1.0, top_k=1), greedy)
    assert torch.equal(model.generate(prompt, 6, temperature=1.0, top_p=1e-6), greedy)


def test_sampling_filters_keep_only_allowed_tokens():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(2000, 1)
    generator = torch.Generator().manual_seed(0)
    top_k = sample_next_token(logits, top_k=2, generator=generator)
    assert set(top_k.tolist()) == {0, 1}
    top_p = sample_next_token(logits, top_p=0.7, generator=generator)  # 0.5 + 0.3 reaches 0.7
    assert set(top_p.tolist()) == {0, 1}
    free = sample_next_token(logits, generator=generator)
    assert (free == 0).float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_generate_is_reproducible_with_a_seeded_generator():
    model = tiny_model()
    prompt = torch.zeros(1, 3, dtype=torch.long)
    a = model.generate(prompt, 10, top_p=0.9, generator=torch.Generator().manual_seed(1))
    b = model.generate(prompt, 10, top_p=0.9, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_fused_cross_entropy_equals_pytorch():
    torch.manual_seed(0)
    logits = torch.randn(257, 1000, requires_grad=True)
    targets = torch.randint(0, 1000, (257,))
    targets[::7] = -100
    ours = ops.cross_entropy(logits, targets)
    (ours_grad,) = torch.autograd.grad(ours * 3.0, logits)
    theirs = F.cross_entropy(logits, targets, ignore_index=-100)
    (theirs_grad,) = torch.autograd.grad(theirs * 3.0, logits)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours_grad, theirs_grad)


def test_cpu_dropout_keeps_one_minus_p_scales_and_is_seeded():
    dropout = ops.Dropout(0.1).train()
    x = torch.ones(999_999, requires_grad=True)  # not a multiple of the 4 values cut from each draw
    torch.manual_seed(0)
    y = dropout(x)
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.9, abs=0.002)
    # each of the four 16-bit lanes of a 64-bit draw (the sign-carrying one included) keeps 0.9
    lanes = kept[:999_996].view(-1, 4).float().mean(dim=0)
    torch.testing.assert_close(lanes, torch.full((4,), 0.9), atol=0.004, rtol=0)
    assert torch.allclose(y[kept], torch.tensor(1 / 0.9))
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)  # gradient flows exactly where values were kept
    torch.manual_seed(0)
    assert torch.equal(dropout(x), y)
    assert torch.equal(dropout.eval()(x), x)


def _attention_masks(B: int, T: int) -> list[tuple[str, torch.Tensor | None, bool]]:
    left_padded = torch.ones(B, T, dtype=torch.long)
    left_padded[1, :3] = 0
    return [
        ("causal", None, True),
        ("causal and padded", padding_aware_causal_mask(left_padded, T), False),
        ("key padding", left_padded.bool()[:, None, None, :], False),
        ("none", None, False),
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cpu_attention_with_dropout_computes_sdpa(dtype):
    """With every weight kept (p below the 1/65536 step), the CPU dropout path returns SDPA's
    output and gradients, for each kind of mask genpt passes."""
    torch.manual_seed(0)
    B, nh, T, hs = 2, 3, 7, 8
    q, k, v = (torch.randn(B, nh, T, hs, dtype=dtype, requires_grad=True) for _ in range(3))
    tolerance = dict(rtol=0, atol=2e-2) if dtype == torch.bfloat16 else dict(rtol=1e-5, atol=1e-6)
    for name, mask, causal in _attention_masks(B, T):
        ours = ops.attention(q, k, v, attn_mask=mask, dropout_p=1e-9, is_causal=causal)
        theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        assert ours.dtype == dtype, name
        torch.testing.assert_close(ours, theirs, **tolerance, msg=name)
        for a, b in zip(torch.autograd.grad(ours.sum(), (q, k, v)), torch.autograd.grad(theirs.sum(), (q, k, v))):
            torch.testing.assert_close(a, b, **tolerance, msg=name)


def test_cpu_attention_dropout_drops_weights_and_is_unbiased():
    torch.manual_seed(0)
    B, nh, T, hs = 2, 2, 6, 4
    q, k = torch.randn(B, nh, T, hs), torch.randn(B, nh, T, hs)
    v = torch.eye(T).expand(B, nh, T, T)  # identity values: the output rows are the attention weights
    for name, mask, causal in _attention_masks(B, T):
        exact = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)  # (B, nh, T, T)
        draws = torch.stack([ops.attention(q, k, v, attn_mask=mask, dropout_p=0.5, is_causal=causal) for _ in range(4000)])
        allowed = exact > 0
        # each weight is either dropped or kept and scaled by 1 / (1 - p); never anything else
        assert torch.all((draws == 0) | torch.isclose(draws, 2 * exact)), name
        assert torch.all(draws[:, ~allowed] == 0), name  # masked keys stay masked
        kept = (draws[:, allowed] != 0).float().mean().item()
        assert kept == pytest.approx(0.5, abs=0.01), name
        torch.testing.assert_close(draws.mean(0), exact, rtol=0, atol=0.05, msg=name)  # E[dropout] = identity


def test_torch_compile_trains_with_dropout_and_matches_eager_in_eval():
    """`--torch_compile` compiles the whole model, CPU dropout paths included."""
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_name("tiny")).train()
    compiled = torch.compile(model)
    tokens = torch.randint(0, model.config.vocab_size, (2, 32))
    loss = compiled(tokens, labels=tokens, return_logits=False).loss
    loss.backward()
    assert abs(loss.item() - math.log(model.config.vocab_size)) < 0.5
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(tokens).logits, model(tokens).logits, rtol=1e-4, atol=1e-4)


def test_config_yaml_round_trip_and_errors(tmp_path):
    config = GPTConfig.from_name("mini", prenorm=True)
    config.to_yaml(tmp_path / "config.yaml")
    assert GPTConfig.from_yaml(tmp_path / "config.yaml") == config
    (tmp_path / "bad.yaml").write_text("n_layer: 2\nn_layers: 3\n")
    with pytest.raises(GenptError, match=r"bad.yaml: unknown key 'n_layers'"):
        GPTConfig.from_yaml(tmp_path / "bad.yaml")
    with pytest.raises(GenptError, match="unknown preset 'huge'"):
        GPTConfig.from_name("huge")
    with pytest.raises(GenptError, match="divisible"):
        GPTConfig(n_embd=100, n_head=3)


def test_fused_cross_entropy_refuses_a_second_backward():
    logits = torch.randn(4, 10, requires_grad=True)
    loss = ops.cross_entropy(logits, torch.tensor([1, 2, 3, -100]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="second backward"):
        loss.backward()


def test_fused_linear_cross_entropy_equals_pytorch_across_chunks(monkeypatch):
    monkeypatch.setattr(ops, "LOGIT_CHUNK_ELEMENTS", 300 * 64)  # 64 rows per chunk: several chunks
    torch.manual_seed(0)
    hidden = torch.randn(200, 32, requires_grad=True)
    weight = torch.randn(300, 32, requires_grad=True)
    targets = torch.randint(0, 300, (200,))
    targets[::3] = -100
    ours = ops.linear_cross_entropy(hidden, weight, targets)
    ours_grads = torch.autograd.grad(ours * 0.5, (hidden, weight))
    theirs = F.cross_entropy(hidden @ weight.t(), targets, ignore_index=-100)
    theirs_grads = torch.autograd.grad(theirs * 0.5, (hidden, weight))
    torch.testing.assert_close(ours, theirs)
    for a, b in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        torch.testing.assert_close(ops.linear_cross_entropy(hidden, weight, targets), theirs)
    # Confidently wrong: target probabilities far below fp32's smallest normal number.
    sharp = (hidden * 20).detach().requires_grad_()
    ours = ops.linear_cross_entropy(sharp, weight, targets)
    theirs = F.cross_entropy(sharp @ weight.t(), targets, ignore_index=-100)
    assert theirs.item() > 150  # mean over tokens, so many rows have p(target) < 1e-38
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(torch.autograd.grad(ours, sharp)[0], torch.autograd.grad(theirs, sharp)[0])


def test_fused_linear_cross_entropy_under_bf16_autocast_matches_the_autocast_reference(monkeypatch):
    """Under autocast the fused kernel multiplies in bf16 as autocast's own matmul would,
    takes the softmax in fp32, and returns fp32 gradients for fp32 parameters."""
    monkeypatch.setattr(ops, "LOGIT_CHUNK_ELEMENTS", 300 * 64)
    torch.manual_seed(0)
    hidden = torch.randn(200, 32, requires_grad=True)
    weight = torch.randn(300, 32, requires_grad=True)
    targets = torch.randint(0, 300, (200,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = ops.linear_cross_entropy(hidden, weight, targets)
        theirs = F.cross_entropy((hidden @ weight.t()).float(), targets)  # autocast rounds the logits to bf16
    ours_grads = torch.autograd.grad(ours, (hidden, weight))
    theirs_grads = torch.autograd.grad(theirs, (hidden, weight))
    assert ours.dtype == torch.float32 and all(g.dtype == torch.float32 for g in ours_grads)
    torch.testing.assert_close(ours, theirs)  # same bf16 logits, same fp32 softmax: fp32 rounding apart
    for a, b in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-4)  # the backward matmuls run in bf16 in both



def test_fused_linear_cross_entropy_sums_a_bf16_weights_gradient_in_fp32(monkeypatch):
    """A bf16 weight (FSDP's bf16 mixed precision gathers parameters so): its gradient, summed
    over hundreds of chunks, is rounded to bf16 once, as one unfused matmul's would be, not
    at every chunk (2.7% error then, against 0.3%)."""
    monkeypatch.setattr(ops, "LOGIT_CHUNK_ELEMENTS", 256 * 4)  # 4 rows per chunk: 512 chunks
    torch.manual_seed(0)
    hidden = torch.randn(2048, 32).bfloat16().requires_grad_()
    weight = (torch.randn(256, 32) * 0.3).bfloat16().requires_grad_()
    targets = torch.randint(0, 256, (2048,))
    ours = torch.autograd.grad(ops.linear_cross_entropy(hidden, weight, targets), weight)[0]
    exact = torch.autograd.grad(F.cross_entropy(hidden.double() @ weight.double().t(), targets), weight)[0]
    assert ours.dtype == torch.bfloat16
    assert (ours.double() - exact).norm() / exact.norm() < 1e-2  # bf16's own rounding, and the bf16 logits


def test_fused_linear_cross_entropy_keeps_small_fp16_gradients_for_the_loss_scale():
    """fp16 training scales the loss (GradScaler) so that small gradients survive fp16; the
    fused kernel must not shrink them by 1/N before that scale arrives. Here p/N is about
    6e-8, fp16's smallest subnormal: scaled in the forward, those entries were lost (1.5%
    error against fp32, 50x autocast's own)."""
    torch.manual_seed(0)
    rows, width, vocab, loss_scale = 4096, 16, 4096, 2.0 ** 16
    hidden = torch.randn(rows, width, requires_grad=True)
    weight = (torch.randn(vocab, width) * 0.3).requires_grad_()
    targets = torch.randint(0, vocab, (rows,))
    exact = torch.autograd.grad(F.cross_entropy(hidden @ weight.t(), targets), (hidden, weight))
    with torch.autocast("cpu", dtype=torch.float16):
        ours = ops.linear_cross_entropy(hidden, weight, targets)
        theirs = F.cross_entropy((hidden @ weight.t()).float(), targets)
    for loss in (ours, theirs):
        grads = [g / loss_scale for g in torch.autograd.grad(loss * loss_scale, (hidden, weight))]
        for grad, reference in zip(grads, exact):
            assert (grad - reference).norm() / reference.norm() < 1e-3  # fp16 rounding: about 3e-4

@pytest.mark.parametrize("prenorm", [False, True])
def test_training_loss_without_logits_equals_the_logits_path(prenorm):
    model = tiny_model(prenorm).train()
    tokens = torch.randint(0, model.config.vocab_size, (3, 50))
    grads = []
    for return_logits in (True, False):
        torch.manual_seed(7)  # the same dropout masks in both passes
        out = model(tokens, labels=tokens, return_logits=return_logits)
        assert (out.logits is None) != return_logits
        model.zero_grad()
        out.loss.backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters()})
        if return_logits:
            expected_loss = out.loss.detach()
        else:
            torch.testing.assert_close(out.loss.detach(), expected_loss)
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("prenorm", [False, True])
@pytest.mark.parametrize("padding", [None, "right", "left"])
def test_one_position_through_the_last_block_equals_the_full_pass_and_its_gradients(prenorm, padding):
    """`only_at` (what a task head without the aux LM reads) is the same function, not an approximation."""
    model = tiny_model(prenorm, embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0).train()
    tokens = torch.randint(0, model.config.vocab_size, (4, 30))
    lengths = torch.tensor([30, 7, 19, 1])
    positions = torch.arange(30)[None, :]
    mask, only_at = None, torch.tensor([29, 3, 11, 0])
    if padding == "right":
        mask, only_at = (positions < lengths[:, None]).long(), lengths - 1
    elif padding == "left":
        mask, only_at = (positions >= 30 - lengths[:, None]).long(), torch.full((4,), 29)
    rows = torch.arange(4)
    results = []
    for one_position in (False, True):
        model.zero_grad()
        if one_position:
            features = model.transformer(tokens, mask, only_at=only_at)  # (4, C)
        else:
            features = model.transformer(tokens, mask)[rows, only_at]  # (4, C)
        (features * torch.linspace(-1, 1, features.size(1))).sum().backward()
        results.append((features.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}))
    (full, full_grads), (one, one_grads) = results
    torch.testing.assert_close(one, full, rtol=0, atol=1e-5)
    for name in full_grads:
        torch.testing.assert_close(one_grads[name], full_grads[name], rtol=1e-3, atol=1e-4)  # float sums in another order
    with pytest.raises(ValueError, match="only_at"):
        model.transformer(tokens, only_at=only_at, cache=KVCache(model.config.n_layer, model.config.n_positions))


def test_linear_decoding_path_equals_f_linear_and_follows_weight_changes():
    torch.manual_seed(0)
    layer = ops.Linear(24, 40)
    few, many, one = torch.randn(2, 3, 24), torch.randn(ops.Linear.MAX_ROWS + 1, 24), torch.randn(1, 24)
    with torch.no_grad():
        torch.testing.assert_close(layer(few), F.linear(few, layer.weight, layer.bias))
        transposed = layer._transposed
        layer.weight.mul_(2.0)  # as an optimizer step would: the cached transpose must follow
        torch.testing.assert_close(layer(few), F.linear(few, layer.weight, layer.bias))
        assert layer._transposed is not transposed
        layer.weight.data = torch.randn(40, 24)  # as `.to()` swaps a parameter's data
        torch.testing.assert_close(layer(few), F.linear(few, layer.weight, layer.bias))
        torch.testing.assert_close(layer(many), F.linear(many, layer.weight, layer.bias))
        torch.testing.assert_close(layer(one), F.linear(one, layer.weight, layer.bias))
    out = layer(few)  # with gradients: nn.Linear's path, and they reach the weight
    out.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    no_bias = ops.Linear(24, 40, bias=False)
    with torch.no_grad():
        torch.testing.assert_close(no_bias(few), F.linear(few, no_bias.weight))
