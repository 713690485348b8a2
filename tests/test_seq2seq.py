"""`genpt seq2seq`: parallel data, the GPT translation format, decoding and BLEU on real Multi30k."""

import gzip
import json
from pathlib import Path

import pytest
import sacrebleu
import torch
from helpers import interrupt_after_step
from safetensors.torch import load_file

from genpt.baselines.seq2seq import Encoded, GPTCollator, Seq2SeqConfig, read_parallel
from genpt.cli import main
from genpt.config import GPTConfig
from genpt.data.transformations import SpecialIds
from genpt.errors import GenptError
from genpt.metrics import corpus_bleu
from genpt.models.decoding import GPTPromptDecoder
from genpt.models.gpt import GPT, IGNORE_INDEX
from genpt.tokenizer.train import train_tokenizer

MULTI30K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multi30k"
pytestmark = pytest.mark.skipif(not MULTI30K.is_dir(), reason="../shared/data/multi30k not present")


def lines(name: str, count: int | None = None) -> list[str]:
    return gzip.decompress((MULTI30K / name).read_bytes()).decode("utf-8").splitlines()[:count]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A slice of Multi30k in its own layout: 600 training pairs, 24 validation, 24 test."""
    folder = tmp_path_factory.mktemp("multi30k")
    for prefix, count in (("train", 600), ("val", 24), ("test_2016_flickr", 24)):
        for lang in ("en", "de"):
            text = "\n".join(lines(f"{prefix}.{lang}.gz", count)) + "\n"
            (folder / f"{prefix}.{lang}.gz").write_bytes(gzip.compress(text.encode("utf-8")))
    return folder


@pytest.fixture(scope="module")
def tokenizer_dir(data_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tok") / "tokenizer"
    train_tokenizer([data_dir / "train.en.gz", data_dir / "train.de.gz"], output_dir=folder, vocab_size=1000,
                    show_progress=False)
    return folder


def test_bleu_equals_sacrebleus_corpus_bleu():
    references = lines("test_2016_flickr.de.gz", 200)
    # Hypotheses of every quality: exact, words dropped, words swapped, another sentence.
    hypotheses = [r if i % 4 == 0 else " ".join(r.split()[: -2]) if i % 4 == 1 else " ".join(reversed(r.split()))
                  if i % 4 == 2 else references[(i + 1) % len(references)] for i, r in enumerate(references)]
    score, signature = corpus_bleu(hypotheses, references)
    assert score == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score, abs=1e-12)
    assert 10 < score < 90
    assert "tok:13a" in signature and "smooth:exp" in signature
    assert corpus_bleu(references, references)[0] == pytest.approx(100.0)
    with pytest.raises(GenptError, match="one hypothesis per reference"):
        corpus_bleu(hypotheses[:-1], references)


def test_parallel_files_are_read_aligned_and_checked(data_dir, tmp_path):
    pairs = read_parallel(data_dir, "val", "en", "de")
    assert len(pairs) == 24
    assert pairs[0].source == lines("val.en.gz", 1)[0].strip() and pairs[0].target == lines("val.de.gz", 1)[0].strip()
    (tmp_path / "train.en").write_text("one\ntwo\n")
    (tmp_path / "train.de").write_text("eins\n")
    with pytest.raises(GenptError, match=r"train\.de: 1 lines, but the en side has 2"):
        read_parallel(tmp_path, "train", "en", "de")
    with pytest.raises(GenptError, match=r"no train\.fr or train\.fr\.gz"):
        read_parallel(tmp_path, "train", "en", "fr")


def test_gpt_format_scores_the_target_and_its_end_only():
    ids = SpecialIds(start=2, delim=3, extract=4, pad=1)
    batch = GPTCollator(ids, context=64)([Encoded([10, 11, 12], [20, 21]), Encoded([13], [22, 23, 24])])
    assert batch["input_ids"].tolist() == [[2, 10, 11, 12, 3, 20, 21, 4], [2, 13, 3, 22, 23, 24, 4, 1]]
    assert batch["attention_mask"].tolist() == [[1] * 8, [1] * 7 + [0]]
    X = IGNORE_INDEX
    assert batch["labels"].tolist() == [[X, X, X, X, X, 20, 21, 4], [X, X, X, 22, 23, 24, 4, X]]


def test_gpt_prompt_decoder_equals_the_full_forward_whatever_the_padding():
    torch.manual_seed(0)
    model = GPT(GPTConfig(name="t", vocab_size=50, n_positions=32, n_layer=2, n_head=2, n_embd=16, n_inner=32)).eval()
    prompts = [[2, 7, 8, 9, 10], [2, 11]]
    width = max(map(len, prompts))
    ids = torch.tensor([[1] * (width - len(p)) + p for p in prompts])  # left-padded
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    decoder = GPTPromptDecoder(model, ids, mask)
    fed = [torch.tensor([3, 3]), torch.tensor([20, 21]), torch.tensor([22, 23])]
    for step, tokens in enumerate(fed):
        log_probs = decoder.step(tokens)
        for row, prompt in enumerate(prompts):
            alone = torch.tensor([prompt + [int(t[row]) for t in fed[: step + 1]]])
            expected = torch.log_softmax(model(alone).logits[0, -1], dim=-1)
            torch.testing.assert_close(log_probs[row], expected, atol=1e-5, rtol=1e-5)
    decoder.reorder(torch.tensor([1, 1, 0]))  # beams reshuffled: the cache follows its rows
    log_probs = decoder.step(torch.tensor([24, 24, 25]))
    for row, (prompt, token) in enumerate(((prompts[1], 24), (prompts[1], 24), (prompts[0], 25))):
        source = 1 - int(row == 2)  # rows 0 and 1 continue prompt 1, row 2 prompt 0
        alone = torch.tensor([prompt + [int(t[source]) for t in fed] + [token]])
        torch.testing.assert_close(log_probs[row], torch.log_softmax(model(alone).logits[0, -1], dim=-1), atol=1e-5, rtol=1e-5)


def run_args(arch: str, data_dir: Path, tokenizer_dir: Path, output_dir: Path, *extra: str) -> list[str]:
    return ["seq2seq", "--arch", arch, "--data_dir", str(data_dir), "--source_lang", "en", "--target_lang", "de",
            "--tokenizer", str(tokenizer_dir), "--preset", "tiny", "--output_dir", str(output_dir), "--max_steps", "12",
            "--batch_size", "16", "--eval_steps", "6", "--logging_steps", "3", "--max_target_length", "24",
            "--warmup_steps", "4", "--learning_rate", "3e-3", "--mixed_precision", "no", *extra]


@pytest.mark.parametrize("arch,beams", [("transformer", "2"), ("lstm", "1"), ("gpt", "2")])
def test_each_architecture_trains_translates_and_scores(arch, beams, data_dir, tokenizer_dir, tmp_path):
    output_dir = tmp_path / arch
    assert main(run_args(arch, data_dir, tokenizer_dir, output_dir, "--num_beams", beams)) == 0
    results = json.loads((output_dir / "eval_results.json").read_text())
    hypotheses = (output_dir / "hypotheses_test.txt").read_text().splitlines()
    references = [line.strip() for line in lines("test_2016_flickr.de.gz", 24)]
    assert len(hypotheses) == 24
    assert results["bleu"] == pytest.approx(round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 2))
    assert results["steps"] == 12 and results["num_beams"] == int(beams)
    records = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val_loss" in r] == [6, 12]
    first, last = records[0]["loss"], [r["loss"] for r in records if "loss" in r][-1]
    assert last < first  # twelve steps already lower the loss
    assert (output_dir / "training_curve.png").stat().st_size > 0
    assert load_file(output_dir / "model.safetensors")  # weights load with safetensors


def test_resumed_seq2seq_continues_exactly(data_dir, tokenizer_dir, tmp_path):
    """Stopped by Ctrl-C after step 4 (dropout on) and resumed: later losses, weights and
    translations equal the uninterrupted run's."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    extra = ["--save_total_limit", "10", "--logging_steps", "1", "--num_beams", "1",
             "--max_train_samples", "96"]  # six batches an epoch: the run crosses an epoch boundary
    assert main(run_args("transformer", data_dir, tokenizer_dir, whole, *extra)) == 0
    assert not (whole / "checkpoints").exists()  # a finished run keeps none
    interrupt_after_step(cut, 4)
    assert main(run_args("transformer", data_dir, tokenizer_dir, cut, *extra)) == 130
    assert not (cut / "eval_results.json").exists()
    assert main(run_args("transformer", data_dir, tokenizer_dir, cut, *extra)) == 2  # never silently restarted
    assert main(run_args("transformer", data_dir, tokenizer_dir, cut, *extra, "--resume", "auto")) == 0

    def trajectory(run: Path) -> list[dict]:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in ("target_tokens_per_s", "train_seconds")} for r in rows]

    assert trajectory(cut) == trajectory(whole)
    assert [r["step"] for r in trajectory(cut) if "loss" in r] == list(range(1, 13))
    ours, theirs = load_file(whole / "model.safetensors"), load_file(cut / "model.safetensors")
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert (cut / "hypotheses_test.txt").read_text() == (whole / "hypotheses_test.txt").read_text()


def test_bad_input_is_one_clear_line(data_dir, tokenizer_dir, tmp_path, capsys):
    output_dir = tmp_path / "run"
    assert main(run_args("transformer", data_dir, tokenizer_dir, output_dir, "--target_lang", "fr")) == 2
    assert "no train.fr or train.fr.gz" in capsys.readouterr().err
    assert main(run_args("lstm", data_dir, tokenizer_dir, output_dir, "--init", str(tmp_path))) == 2
    assert "trains from scratch only" in capsys.readouterr().err
    assert main(run_args("gpt", data_dir, tokenizer_dir, output_dir, "--max_steps", "0")) == 2
    assert "--max_steps must be at least 1" in capsys.readouterr().err
    assert not (output_dir / "model.safetensors").exists()


def test_seq2seq_config_defaults_match_the_papers():
    config = Seq2SeqConfig(arch="transformer", data_dir="x")
    assert (config.num_beams, config.length_penalty) == (4, 0.6)  # Vaswani et al. 2017, section 6.1
