"""The encoder-decoder Transformer baseline: shapes, masking, caching, learning, schedule."""

import functools

import pytest
import torch
import torch.nn.functional as F

from genpt.errors import GenptError
from genpt.models.decoding import beam_search
from genpt.models.encoder_decoder import (
    TRANSFORMER_PRESETS,
    EncoderDecoder,
    TransformerConfig,
    TransformerDecoderState,
    adam_for_transformer,
    inverse_sqrt_schedule,
)

EOS, PAD, BOS = 0, 1, 2  # genpt's ids for endoftext, pad and start
FIRST_SYMBOL = 5  # ids below are special tokens


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Models this small gain nothing from a second thread, and lose much when the cores are
    busy; one thread also keeps the training runs independent of the machine's core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_model(**overrides) -> EncoderDecoder:
    torch.manual_seed(0)
    values = dict(vocab_size=50, max_positions=64, n_layer=2, n_head=4, d_model=32, d_ff=64)
    return EncoderDecoder(TransformerConfig(**{**values, **overrides})).eval()


def random_ids(*shape: int, vocab_size: int = 50) -> torch.Tensor:
    return torch.randint(FIRST_SYMBOL, vocab_size, shape)


# ---- config -----------------------------------------------------------------------------


def test_config_presets_and_dict_round_trip():
    for name, preset in TRANSFORMER_PRESETS.items():
        config = TransformerConfig.from_name(name, vocab_size=1000)
        assert (config.name, config.vocab_size, config.n_layer) == (name, 1000, preset["n_layer"])
        assert TransformerConfig.from_dict(config.to_dict()) == config
    base = TransformerConfig.from_name("base")
    assert (base.n_layer, base.d_model, base.n_head, base.d_ff, base.dropout) == (6, 512, 8, 2048, 0.1)
    assert (base.label_smoothing, base.pad_id, base.share_embeddings) == (0.1, 1, True)


def test_config_rejects_bad_values_with_one_line_errors():
    with pytest.raises(GenptError, match="my.yaml: unknown key 'n_embd'"):
        TransformerConfig.from_dict({"n_embd": 64}, source="my.yaml")
    with pytest.raises(GenptError, match="unknown Transformer preset"):
        TransformerConfig.from_name("huge")
    with pytest.raises(GenptError, match="divisible"):
        TransformerConfig(d_model=100, n_head=8)
    with pytest.raises(GenptError, match="pad_id"):
        TransformerConfig(vocab_size=1, pad_id=1)


# ---- shapes and sizes -------------------------------------------------------------------


def test_shapes_of_encode_decode_forward_and_pooling():
    model = small_model()
    B, S, T = 3, 7, 5
    src, tgt = random_ids(B, S), random_ids(B, T)
    src_mask, tgt_mask = torch.ones(B, S, dtype=torch.long), torch.ones(B, T, dtype=torch.long)
    memory = model.encode(src, src_mask)
    assert memory.shape == (B, S, 32)
    assert model.decode(tgt, memory, src_mask, tgt_mask).shape == (B, T, 32)
    assert model.encode_pooled(src, src_mask).shape == (B, 32)
    logits, loss = model(src, src_mask, tgt, tgt_mask)
    assert logits.shape == (B, T, 50) and loss is None
    labels = tgt.clone()
    labels[:, -2:] = -100
    _, loss = model(src, src_mask, tgt, tgt_mask, labels=labels)
    expected = F.cross_entropy(logits[:, :-2].flatten(0, 1), tgt[:, :-2].flatten(), label_smoothing=0.1)
    torch.testing.assert_close(loss, expected)  # -100 ignored, smoothed as configured


def test_base_model_has_the_papers_parameter_count():
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = EncoderDecoder(TransformerConfig.from_name("base", vocab_size=37000))
        unshared = EncoderDecoder(TransformerConfig.from_name("base", vocab_size=37000, share_embeddings=False))
    # 6 encoder layers of 3.15M and 6 decoder layers of 4.20M, plus one 37000 x 512 matrix.
    assert model.num_parameters(non_embedding=True) == pytest.approx(44.1e6, rel=0.01)
    assert model.num_parameters() == pytest.approx(65e6, rel=0.10)  # Table 3: 65M
    assert unshared.num_parameters() - model.num_parameters() == 37000 * 512
    assert unshared.num_parameters(non_embedding=True) == model.num_parameters(non_embedding=True)
    assert model.lm_head.weight is model.src_embed.weight is model.tgt_embed.weight


def test_initialisation_follows_the_reference():
    model = small_model(vocab_size=2000, d_model=64)
    embedding = model.tgt_embed.weight
    assert embedding[PAD].abs().max() == 0  # the pad row starts at zero
    assert embedding.std().item() == pytest.approx(64**-0.5, rel=0.05)
    bound = (6 / (64 + 64)) ** 0.5  # Glorot-uniform for a 64 x 64 matrix
    weight = model.encoder[0].self_attn.q_proj.weight
    assert weight.abs().max() <= bound and weight.abs().max() > 0.9 * bound


def test_sequences_longer_than_the_position_table_are_refused():
    model = small_model(max_positions=8)
    with pytest.raises(ValueError, match="9 tokens is longer than the 8 positions"):
        model.encode(random_ids(1, 9), None)
    memory = model.encode(random_ids(1, 8), None)
    with pytest.raises(ValueError, match="longer"):
        model.decode(random_ids(1, 9), memory, None, None)


# ---- masking ----------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["right", "left"])
def test_source_padding_never_changes_any_output(side):
    model = small_model()
    lengths, width = [6, 3, 9], 13  # every row padded, the longest by four
    tgt = random_ids(len(lengths), 5)
    src = torch.full((len(lengths), width), PAD)
    src_mask = torch.zeros(len(lengths), width, dtype=torch.long)
    sources = [random_ids(n) for n in lengths]
    for row, seq in enumerate(sources):
        span = slice(0, len(seq)) if side == "right" else slice(width - len(seq), width)
        src[row, span], src_mask[row, span] = seq, 1
    with torch.no_grad():
        batched, _ = model(src, src_mask, tgt, None)
        pooled = model.encode_pooled(src, src_mask)
        for row, seq in enumerate(sources):
            alone, _ = model(seq[None], None, tgt[row : row + 1], None)
            torch.testing.assert_close(batched[row], alone[0], rtol=0, atol=1e-5)
            real = model.encode(seq[None], None)[0]  # (n, C)
            torch.testing.assert_close(pooled[row], real.mean(dim=0), rtol=0, atol=1e-5)
    assert torch.isfinite(batched).all()


def test_decoder_never_sees_the_future():
    model = small_model()
    src, tgt = random_ids(2, 8), random_ids(2, 12)
    for t in (0, 5, 10):
        changed = tgt.clone()
        changed[:, t + 1 :] = random_ids(2, 11 - t)
        with torch.no_grad():
            before, _ = model(src, None, tgt, None)
            after, _ = model(src, None, changed, None)
        torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1], rtol=0, atol=1e-5)
        assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])  # the future did change


def test_target_padding_never_changes_real_positions():
    model = small_model()
    src, tgt = random_ids(1, 6), random_ids(1, 7)
    padded = torch.cat([tgt, torch.full((1, 3), PAD)], dim=1)
    tgt_mask = torch.tensor([[1] * 7 + [0] * 3])
    with torch.no_grad():
        alone, _ = model(src, None, tgt, None)
        with_padding, _ = model(src, None, padded, tgt_mask)
    torch.testing.assert_close(with_padding[:, :7], alone, rtol=0, atol=1e-5)


# ---- incremental decoding ---------------------------------------------------------------


def test_cached_steps_equal_the_full_decoder_and_follow_reordering():
    model = small_model()
    src = random_ids(3, 9)
    src_mask = torch.ones(3, 9, dtype=torch.long)
    src_mask[1, 6:] = 0  # a padded source row exercises the cached cross-attention mask
    tgt = torch.cat([torch.full((3, 1), BOS), random_ids(3, 6)], dim=1)
    with torch.no_grad():
        full = model(src, src_mask, tgt, None)[0].log_softmax(-1)  # (3, 7, V)
        state = TransformerDecoderState(model, model.encode(src, src_mask), src_mask)
        for t in range(4):
            torch.testing.assert_close(state.step(tgt[:, t]), full[:, t], rtol=0, atol=1e-5)
        rows = torch.tensor([2, 2, 0, 1])  # beams reshuffle: duplicate one, drop none, reorder
        state.reorder(rows)
        for t in range(4, 7):
            torch.testing.assert_close(state.step(tgt[rows, t]), full[rows, t], rtol=0, atol=1e-5)


# ---- learning ---------------------------------------------------------------------------

MAX_STEPS = 600
TASKS = {"copy": lambda x: x, "reverse": lambda x: x.flip(0)}


def task_batch(task: str, n: int, generator: torch.Generator, vocab_size: int = 20):
    """Random sequences of 5-10 symbols ending in eos, and their copy or reversal.

    Returns source ids and mask, decoder input (bos + target), its mask, and labels
    (target + eos, -100 on padding).
    """
    lengths = torch.randint(5, 11, (n,), generator=generator).tolist()
    width = max(lengths) + 1
    src, tgt_in = torch.full((n, width), PAD), torch.full((n, width), PAD)
    labels = torch.full((n, width), -100)
    for row, length in enumerate(lengths):
        x = torch.randint(FIRST_SYMBOL, vocab_size, (length,), generator=generator)
        y = TASKS[task](x)
        src[row, :length], src[row, length] = x, EOS
        tgt_in[row, 0], tgt_in[row, 1 : length + 1] = BOS, y
        labels[row, :length], labels[row, length] = y, EOS
    return src, (src != PAD).long(), tgt_in, (tgt_in != PAD).long(), labels


def exact_match(generated: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of rows whose output is the whole target and its eos, nothing else."""
    hits = 0
    for output, label in zip(generated.tolist(), labels.tolist()):
        want = [token for token in label if token != -100]
        hits += output[: len(want)] == want
    return hits / len(labels)


@functools.cache
def trained_model(task: str) -> EncoderDecoder:
    """A 2-layer, d_model 64 Transformer trained with the paper's recipe until it is right.

    Training stops once five fresh batches in a row are predicted right at every position
    (about 250 steps, 6 s). Left to run on, the paper's Adam (beta2 0.98, eps 1e-9) at this
    size drifts into loss spikes once the gradients become tiny, and a run that ends in one
    fails the test by chance.
    """
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    config = TransformerConfig(vocab_size=20, max_positions=32, n_layer=2, n_head=4, d_model=64, d_ff=128,
                               dropout=0.0)  # dropout only slows a task with no overfitting to fear
    model = EncoderDecoder(config)
    optimizer = adam_for_transformer(model, lr=0.2)  # peak lr 0.2 * 64^-0.5 * 30^-0.5 = 0.0046
    schedule = inverse_sqrt_schedule(optimizer, config.d_model, warmup_steps=30)
    solved_in_a_row = 0
    for _ in range(MAX_STEPS):
        batch = task_batch(task, 64, generator)
        logits, loss = model(*batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        labels = batch[-1]
        solved = bool(((logits.argmax(dim=-1) == labels) | (labels == -100)).all())
        solved_in_a_row = solved_in_a_row + 1 if solved else 0
        if solved_in_a_row == 5:
            break
    return model.eval()


def held_out(task: str):
    src, src_mask, _, _, labels = task_batch(task, 200, torch.Generator().manual_seed(1234))
    return src, src_mask, labels


@pytest.mark.parametrize("task", ["copy", "reverse"])
def test_learns_the_task_with_greedy_decoding(task):
    model = trained_model(task)
    src, src_mask, labels = held_out(task)
    generated = model.generate(src, src_mask, BOS, EOS, max_length=12)
    assert exact_match(generated, labels) > 0.95


def test_beam_search_also_solves_copy_and_one_beam_is_greedy():
    model = trained_model("copy")
    src, src_mask, labels = held_out("copy")
    beams = model.generate(src, src_mask, BOS, EOS, max_length=12, num_beams=4, length_penalty=0.6)
    assert exact_match(beams, labels) > 0.95
    greedy = model.generate(src, src_mask, BOS, EOS, max_length=12)
    state = TransformerDecoderState(model, model.encode(src, src_mask), src_mask)
    one_beam = beam_search(state, BOS, EOS, len(src), max_length=12, num_beams=1, device="cpu")
    assert torch.equal(one_beam, greedy)


# ---- optimisation -----------------------------------------------------------------------


def test_inverse_sqrt_schedule_follows_the_formula():
    d_model, warmup = 512, 4000
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = adam_for_transformer(torch.nn.ParameterList([parameter]))
    assert optimizer.defaults["betas"] == (0.9, 0.98) and optimizer.defaults["eps"] == 1e-9
    schedule = inverse_sqrt_schedule(optimizer, d_model, warmup)
    checkpoints = {1: 512**-0.5 * 4000**-1.5, 100: 512**-0.5 * 100 * 4000**-1.5, 4000: 512**-0.5 * 4000**-0.5,
                   10000: 512**-0.5 * 10000**-0.5}
    for step in range(1, 10001):  # the lr the step-th update uses
        if step in checkpoints:
            assert optimizer.param_groups[0]["lr"] == pytest.approx(checkpoints[step], rel=1e-12)
        optimizer.step()
        schedule.step()
    assert max(checkpoints.values()) == checkpoints[4000]  # the peak is at the end of warmup
