"""The LSTM seq2seq baseline: config, padding, causality, incremental decoding, copy and reverse."""

import pytest
import torch

from genpt.errors import GenptError
from genpt.models.decoding import beam_search
from genpt.models.gpt import language_modeling_loss
from genpt.models.lstm import LSTM_PRESETS, LSTMConfig, LSTMSeq2Seq

EOS, PAD, BOS = 0, 1, 2  # genpt's <|endoftext|>, <|pad|>, <|start|>
FIRST_WORD, VOCAB = 5, 20  # toy tasks use ids 5..19 as words


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Small LSTM steps gain nothing from a second thread, and lose a lot when another
    # process holds the other core: OpenMP threads then wait on each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(attention: str = "bahdanau", **overrides) -> LSTMSeq2Seq:
    torch.manual_seed(0)
    config = LSTMConfig.from_name("tiny", vocab_size=VOCAB, attention=attention, **overrides)
    return LSTMSeq2Seq(config).eval()


def right_padded(rows: list[torch.Tensor], width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    width = width or max(len(row) for row in rows)
    ids = torch.full((len(rows), width), PAD)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
    return ids, mask


def toy_batch(generator: torch.Generator, n: int, task: str):
    """Random sources of 5-10 words; the target is the source copied or reversed, then eos."""
    lengths = torch.randint(5, 11, (n,), generator=generator).tolist()
    sources = [torch.randint(FIRST_WORD, VOCAB, (length,), generator=generator) for length in lengths]
    targets = [torch.cat([src if task == "copy" else src.flip(0), torch.tensor([EOS])]) for src in sources]
    src_ids, src_mask = right_padded(sources)
    tgt_out, tgt_mask = right_padded(targets)  # y_1 .. y_n eos
    tgt_in, _ = right_padded([torch.cat([torch.tensor([BOS]), tgt[:-1]]) for tgt in targets])  # bos y_1 .. y_n
    labels = tgt_out.masked_fill(tgt_mask == 0, -100)
    return src_ids, src_mask, tgt_in, tgt_mask, labels, targets


# ---- config ----------------------------------------------------------------------------------


def test_presets_overrides_and_round_trip():
    paper = LSTMConfig.from_name("paper")
    assert (paper.n_layer, paper.hidden_size, paper.embedding_dim, paper.vocab_size) == (1, 2048, 768, 8192)
    assert set(LSTM_PRESETS) == {"paper", "small", "tiny"}
    config = LSTMConfig.from_name("small", vocab_size=100, attention="luong")
    assert (config.name, config.hidden_size, config.vocab_size, config.attention) == ("small", 512, 100, "luong")
    assert LSTMConfig.from_dict(config.to_dict()) == config


def test_bad_configs_raise_genpt_errors():
    with pytest.raises(GenptError, match=r"task.yaml: unknown key 'n_head'"):
        LSTMConfig.from_dict({"n_head": 4}, source="task.yaml")
    with pytest.raises(GenptError, match="unknown LSTM preset"):
        LSTMConfig.from_name("huge")
    with pytest.raises(GenptError, match="attention must be"):
        LSTMConfig(attention="dot")
    with pytest.raises(GenptError, match="pad_id"):
        LSTMConfig(vocab_size=1)


def test_shared_embeddings_are_counted_once():
    shared, separate = tiny_model(), tiny_model(share_embeddings=False)
    assert shared.lm_head.weight is shared.src_embed.weight is shared.tgt_embed.weight
    # Unshared: a second embedding table and an output layer of the same size.
    assert separate.num_parameters() - shared.num_parameters() == 2 * VOCAB * 64


# ---- shapes, padding, causality -----------------------------------------------------------------


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_shapes(attention):
    model = tiny_model(attention)
    src_ids, src_mask, tgt_in, tgt_mask, labels, _ = toy_batch(torch.Generator().manual_seed(0), 3, "copy")
    (B, S), T = src_ids.shape, tgt_in.size(1)
    logits, loss = model(src_ids, src_mask, tgt_in, tgt_mask, labels)
    assert logits.shape == (B, T, VOCAB) and loss.shape == ()
    memory, (h, c) = model.encode(src_ids, src_mask)
    assert memory.shape == (B, S, 256) and h.shape == c.shape == (1, B, 128)
    assert model.encode_pooled(src_ids, src_mask).shape == (B, 256)
    assert model.language_model_logits(src_ids, src_mask).shape == (B, S, VOCAB)
    assert model(src_ids, src_mask, tgt_in, tgt_mask)[1] is None


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_padding_never_changes_any_output(attention):
    model = tiny_model(attention, n_layer=2)
    g = torch.Generator().manual_seed(1)
    sources = [torch.randint(FIRST_WORD, VOCAB, (n,), generator=g) for n in (7, 3, 11)]
    targets = [torch.randint(FIRST_WORD, VOCAB, (n,), generator=g) for n in (4, 6, 2)]
    src_ids, src_mask = right_padded(sources, width=14)  # more padding than any row needs
    tgt_in, tgt_mask = right_padded(targets, width=8)
    # Whatever the padding holds: real words here, not <|pad|>.
    src_ids = torch.where(src_mask.bool(), src_ids, torch.randint(FIRST_WORD, VOCAB, src_ids.shape, generator=g))
    tgt_in = torch.where(tgt_mask.bool(), tgt_in, torch.randint(FIRST_WORD, VOCAB, tgt_in.shape, generator=g))
    with torch.no_grad():
        logits, _ = model(src_ids, src_mask, tgt_in, tgt_mask)
        pooled = model.encode_pooled(src_ids, src_mask)
        lm_logits = model.language_model_logits(src_ids, src_mask)
        for i, (src, tgt) in enumerate(zip(sources, targets)):
            alone, _ = model(src[None], torch.ones(1, len(src)), tgt[None], torch.ones(1, len(tgt)))
            torch.testing.assert_close(logits[i, : len(tgt)], alone[0], rtol=0, atol=1e-5)
            torch.testing.assert_close(pooled[i], model.encode_pooled(src[None], torch.ones(1, len(src)))[0],
                                       rtol=0, atol=1e-5)
            torch.testing.assert_close(lm_logits[i, : len(src)], model.language_model_logits(src[None])[0],
                                       rtol=0, atol=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_decoder_never_sees_the_future(attention):
    model = tiny_model(attention)
    g = torch.Generator().manual_seed(2)
    src_ids = torch.randint(FIRST_WORD, VOCAB, (2, 9), generator=g)
    src_mask = torch.ones_like(src_ids)
    tgt_in = torch.randint(FIRST_WORD, VOCAB, (2, 12), generator=g)
    with torch.no_grad():
        for t in (0, 5, 10):
            changed = tgt_in.clone()
            changed[:, t + 1 :] = torch.randint(FIRST_WORD, VOCAB, changed[:, t + 1 :].shape, generator=g)
            before, _ = model(src_ids, src_mask, tgt_in)
            after, _ = model(src_ids, src_mask, changed)
            torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1], rtol=0, atol=1e-6)
            assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])  # the future did change
            lm_before, lm_after = model.language_model_logits(tgt_in), model.language_model_logits(changed)
            torch.testing.assert_close(lm_before[:, : t + 1], lm_after[:, : t + 1], rtol=0, atol=1e-6)


def test_language_model_ignores_any_source_and_trains_the_decoder():
    model = tiny_model().train()
    ids = torch.randint(FIRST_WORD, VOCAB, (4, 10), generator=torch.Generator().manual_seed(3))
    loss = language_modeling_loss(model.language_model_logits(ids), ids)  # the auxiliary LM loss
    loss.backward()
    assert model.decoder.weight_hh_l0.grad.abs().sum() > 0 and model.src_embed.weight.grad.abs().sum() > 0
    assert model.encoder.weight_hh_l0.grad is None and model.bridge.weight.grad is None  # no source involved


def test_loss_ignores_padding_and_minus_100():
    model = tiny_model(label_smoothing=0.1)
    src_ids, src_mask, tgt_in, tgt_mask, labels, _ = toy_batch(torch.Generator().manual_seed(4), 5, "copy")
    with torch.no_grad():
        logits, loss = model(src_ids, src_mask, tgt_in, tgt_mask, labels)
        # Real labels under the padding mask are dropped too.
        _, same = model(src_ids, src_mask, tgt_in, tgt_mask, labels.masked_fill(tgt_mask == 0, EOS))
    real = labels != -100
    expected = torch.nn.functional.cross_entropy(logits[real], labels[real], label_smoothing=0.1)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(same, expected)


# ---- incremental decoding ------------------------------------------------------------------------


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_step_decoding_matches_teacher_forcing(attention):
    model = tiny_model(attention, n_layer=2)
    src_ids, src_mask, tgt_in, _, _, _ = toy_batch(torch.Generator().manual_seed(5), 4, "copy")
    with torch.no_grad():
        logits, _ = model(src_ids, src_mask, tgt_in)
        decoder = model.start_decoding(src_ids, src_mask)
        for t in range(tgt_in.size(1)):
            torch.testing.assert_close(decoder.step(tgt_in[:, t]), logits[:, t].log_softmax(-1), rtol=0, atol=1e-5)


def test_reorder_selects_and_duplicates_rows():
    model = tiny_model()
    src_ids, src_mask, tgt_in, _, _, _ = toy_batch(torch.Generator().manual_seed(6), 3, "copy")
    rows = torch.tensor([2, 2, 0])
    with torch.no_grad():
        logits, _ = model(src_ids[rows], src_mask[rows], tgt_in[rows])
        decoder = model.start_decoding(src_ids, src_mask)
        decoder.step(tgt_in[:, 0])
        decoder.reorder(rows)  # mid-sequence, as beam search does
        torch.testing.assert_close(decoder.step(tgt_in[rows, 1]), logits[:, 1].log_softmax(-1), rtol=0, atol=1e-5)


# ---- learning copy and reverse ---------------------------------------------------------------------


def train(task: str, attention: str, steps: int = 150) -> LSTMSeq2Seq:
    model = tiny_model(attention, dropout=0.0).train()
    # A linearly decaying learning rate: at a constant 3e-3 the loss, once near 0.01, jumps
    # back above 2 now and then, and a short run may end on such a jump.
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    generator = torch.Generator().manual_seed(7)
    for _ in range(steps):
        src_ids, src_mask, tgt_in, tgt_mask, labels, _ = toy_batch(generator, 64, task)
        _, loss = model(src_ids, src_mask, tgt_in, tgt_mask, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


def exact_match(outputs: torch.Tensor, targets: list[torch.Tensor]) -> float:
    """Share of rows whose output up to and including the first eos is the target."""
    hits = [len(tgt) <= outputs.size(1) and torch.equal(out[: len(tgt)], tgt) for out, tgt in zip(outputs, targets)]
    return sum(hits) / len(hits)


@pytest.fixture(scope="module")
def copy_model() -> LSTMSeq2Seq:
    return train("copy", "bahdanau")


def held_out(task: str):
    src_ids, src_mask, _, _, _, targets = toy_batch(torch.Generator().manual_seed(8), 200, task)
    return src_ids, src_mask, targets


def test_learns_to_copy_greedy_and_beam(copy_model):
    src_ids, src_mask, targets = held_out("copy")
    greedy = copy_model.generate(src_ids, src_mask, BOS, EOS, max_length=12)
    assert exact_match(greedy, targets) > 0.95
    beams = copy_model.generate(src_ids, src_mask, BOS, EOS, max_length=12, num_beams=4)
    assert exact_match(beams, targets) > 0.95


def test_one_beam_is_greedy(copy_model):
    src_ids, src_mask, _ = held_out("copy")
    greedy = copy_model.generate(src_ids, src_mask, BOS, EOS, max_length=12)
    one_beam = beam_search(copy_model.start_decoding(src_ids, src_mask), BOS, EOS, src_ids.size(0), 12, num_beams=1, device="cpu")
    assert torch.equal(one_beam, greedy)


def test_learns_to_reverse():
    model = train("reverse", "luong")
    src_ids, src_mask, targets = held_out("reverse")
    assert exact_match(model.generate(src_ids, src_mask, BOS, EOS, max_length=12), targets) > 0.95
