"""`genpt export`: the exported folders load in plain `transformers` and behave exactly as in genpt."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from genpt.checkpoint import save_state_dict
from genpt.cli import main
from genpt.config import GPTConfig
from genpt.data.tasks import Example
from genpt.models.gpt import GPT
from genpt.models.heads import GPTForTask
from genpt.resources import default_corpus_dir, default_glue_dir
from genpt.task_run import load_task_run
from genpt.tokenizer.train import train_tokenizer

GLUE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "glue"
TINY = dict(name="test", n_positions=64, n_layer=2, n_head=2, n_embd=32, n_inner=128)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export") / "tokenizer"
    train_tokenizer([default_corpus_dir()], output_dir=folder, vocab_size=1000, show_progress=False)
    return folder


def run_plain_transformers(code: str, tmp_path: Path) -> dict:
    """Run `code` in a fresh interpreter that imports only transformers and torch, offline;
    it leaves its answer in `result` (JSON), and must never have imported genpt."""
    script = tmp_path / "plain.py"
    script.write_text(code + "\nimport sys, json\nassert 'genpt' not in sys.modules\n"
                      f"open({str(tmp_path / 'result.json')!r}, 'w').write(json.dumps(result))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp_path / "result.json").read_text())


def pretraining_run(folder: Path, tokenizer_dir: Path, prenorm: bool) -> GPT:
    """A run folder as `genpt pretrain` leaves it: config.yaml, model.safetensors, tokenizer/."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(**TINY, vocab_size=1000, prenorm=prenorm)).eval()
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({"model": model.config.to_dict(), "data": {"inputs": ["books/"]}}))
    save_state_dict(model.state_dict(), folder / "model.safetensors")
    subprocess.run(["cp", "-r", str(tokenizer_dir), str(folder / "tokenizer")], check=True)
    return model


@pytest.mark.parametrize("prenorm", [False, True], ids=["openai-gpt", "gpt2"])
def test_causal_lm_loads_in_plain_transformers_with_equal_logits(tmp_path, tokenizer_dir, prenorm):
    model = pretraining_run(tmp_path / "run", tokenizer_dir, prenorm)
    assert main(["export", "--run", str(tmp_path / "run"), "--output_dir", str(tmp_path / "hub")]) == 0
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "README.md"} <= {
        p.name for p in (tmp_path / "hub").iterdir()}
    text = "It was the best of times, it was the worst of times."
    result = run_plain_transformers(f"""
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline
hub = {str(tmp_path / 'hub')!r}
tokenizer = AutoTokenizer.from_pretrained(hub)
model = AutoModelForCausalLM.from_pretrained(hub).eval()
ids = tokenizer({text!r}, add_special_tokens=False, return_tensors="pt")["input_ids"]
with torch.no_grad():
    logits = model(ids).logits
torch.manual_seed(0)
generated = pipeline("text-generation", model=hub)("Once upon a time", max_new_tokens=8)[0]["generated_text"]
prompts = [{text!r}, "Once"]  # a batch pads the short prompt: it must continue as it does alone
batch = model.generate(**tokenizer(prompts, padding=True, return_tensors="pt"), max_new_tokens=6, do_sample=False)
alone = [model.generate(**tokenizer([p], return_tensors="pt"), max_new_tokens=6, do_sample=False)[0] for p in prompts]
result = {{"class": type(model).__name__, "ids": ids[0].tolist(), "logits": logits[0].tolist(), "generated": generated,
          "bos": [tokenizer.bos_token_id, model.config.bos_token_id, model.generation_config.bos_token_id],
          "plain": tokenizer({text!r})["input_ids"],
          "batched": [tokenizer.decode(row, skip_special_tokens=True) for row in batch],
          "alone": [tokenizer.decode(row, skip_special_tokens=True) for row in alone]}}
""", tmp_path)
    assert result["class"] == ("GPT2LMHeadModel" if prenorm else "OpenAIGPTLMHeadModel")
    from genpt.tokenization import load_tokenizer

    ids = load_tokenizer(tokenizer_dir)(text, add_special_tokens=False)["input_ids"]
    assert result["ids"] == ids  # the tokenizer travels unchanged
    assert result["plain"] == ids  # prompted with plain text, as pretraining saw it (no classifier template)
    assert len(set(result["bos"])) == 1  # one beginning-of-text token, whoever asks (pretraining's <|endoftext|>)
    ours = model(torch.tensor([ids])).logits[0]
    torch.testing.assert_close(torch.tensor(result["logits"]), ours, rtol=0, atol=1e-5)
    assert result["generated"].startswith("Once upon a time") and len(result["generated"]) > len("Once upon a time")
    assert result["batched"] == result["alone"]
    # loadable by transformers 4.x too (it has no TokenizersBackend), and nothing of how genpt loaded it
    config = json.loads((tmp_path / "hub" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast" and config["padding_side"] == "left"
    assert not {"is_local", "local_files_only"} & set(config)


@pytest.fixture(scope="module")
def sst2_run(tmp_path_factory, tokenizer_dir) -> Path:
    """A classifier fine-tuned from an exported language model, as a user fine-tunes one shared
    on the hub: its tokenizer comes from a Hugging Face folder, without GPT-1's templates."""
    folder = tmp_path_factory.mktemp("sst2")
    pretraining_run(folder / "lm", tokenizer_dir, prenorm=False)
    assert main(["export", "--run", str(folder / "lm"), "--output_dir", str(folder / "lm-hub")]) == 0
    run = folder / "run"
    assert main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(folder / "lm-hub"),
                 "--max_train_samples", "512", "--num_train_epochs", "1", "--max_seq_length", "64",
                 "--learning_rate", "3e-4", "--mixed_precision", "no", "--output_dir", str(run)]) == 0
    return run


def test_classifier_pipeline_gives_genpts_predictions_and_accuracy(tmp_path, sst2_run):
    """The whole SST-2 dev set through `pipeline("text-classification")` on the export: the
    same prediction for every sentence as `genpt finetune` wrote, so the same accuracy."""
    assert main(["export", "--run", str(sst2_run), "--output_dir", str(tmp_path / "hub")]) == 0
    result = run_plain_transformers(f"""
import csv
from transformers import pipeline
rows = list(csv.reader(open({str(default_glue_dir() / 'SST-2' / 'dev.tsv')!r}), delimiter="\\t", quoting=csv.QUOTE_NONE))[1:]
classify = pipeline("text-classification", model={str(tmp_path / 'hub')!r})
predicted = [p["label"] for p in classify([r[0].strip() for r in rows], batch_size=64, truncation=True)]
result = {{"predicted": predicted, "labels": [r[1] for r in rows], "id2label": classify.model.config.id2label}}
""", tmp_path)
    assert result["id2label"] == {"0": "negative", "1": "positive"}
    ours = [row.split("\t")[1] for row in (sst2_run / "predictions_dev.tsv").read_text().splitlines()[1:]]
    names = {"0": "negative", "1": "positive"}
    assert result["predicted"] == [names[p] for p in ours]
    accuracy = sum(p == names[label] for p, label in zip(result["predicted"], result["labels"])) / len(ours)
    assert accuracy == pytest.approx(json.loads((sst2_run / "eval_results.json").read_text())["accuracy"])


@pytest.mark.skipif(not GLUE.is_dir(), reason="../shared/data/glue not present")
def test_entailment_pipeline_on_text_pairs_matches_genpt(tmp_path, tokenizer_dir):
    run = tmp_path / "rte"
    assert main(["finetune", "--task", "rte", "--data_dir", str(GLUE), "--init", "scratch", "--tokenizer", str(tokenizer_dir),
                 "--preset", "tiny", "--max_train_samples", "64", "--max_eval_samples", "120", "--num_train_epochs", "1",
                 "--max_seq_length", "64", "--mixed_precision", "no", "--output_dir", str(run)]) == 0
    assert main(["export", "--run", str(run), "--output_dir", str(tmp_path / "hub")]) == 0
    result = run_plain_transformers(f"""
import csv
from transformers import pipeline
rows = list(csv.reader(open({str(GLUE / 'RTE' / 'dev.tsv')!r}), delimiter="\\t", quoting=csv.QUOTE_NONE))[1:121]
classify = pipeline("text-classification", model={str(tmp_path / 'hub')!r})
pairs = [{{"text": r[1].strip(), "text_pair": r[2].strip()}} for r in rows]
result = {{"predicted": [p["label"] for p in classify(pairs, batch_size=16, truncation=True)]}}
""", tmp_path)
    ours = [row.split("\t")[1] for row in (run / "predictions_dev.tsv").read_text().splitlines()[1:]]
    assert result["predicted"] == ours  # long premises are cut by the same rule on both sides


def _card_code(hub: Path) -> str:
    readme = (hub / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    return code.replace("PATH_OR_REPO", str(hub))


def test_what_the_card_says_for_similarity_and_multiple_choice_is_exact(tmp_path, tokenizer_dir):
    """The two heads with no `transformers` class: run the card's own code on the export and
    compare with the genpt model on the same inputs."""
    rows = [("A man is playing a guitar.", "A man plays an instrument.", "same"), ("A dog runs.", "The sky is blue.", "different")]
    (tmp_path / "pairs.csv").write_text("a,b,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows * 4))
    stories = "context,one,two,label\n" + "".join(
        f"Karen was assigned a roommate {i}. They got along well and went to a concert together.,"
        f"Karen became good friends with her roommate.,Karen hated her roommate.,{i % 2}\n" for i in range(8))
    (tmp_path / "stories.csv").write_text(stories)
    common = ["--init", "scratch", "--tokenizer", str(tokenizer_dir), "--preset", "tiny", "--num_train_epochs", "1",
              "--mixed_precision", "no", "--learning_rate", "1e-3"]
    assert main(["finetune", "--task", "custom", "--task_type", "similarity", "--train_file", str(tmp_path / "pairs.csv"),
                 "--validation_file", str(tmp_path / "pairs.csv"), "--text_column", "a", "--text_pair_column", "b",
                 *common, "--output_dir", str(tmp_path / "sim")]) == 0
    assert main(["finetune", "--task", "custom", "--task_type", "multiple_choice", "--train_file", str(tmp_path / "stories.csv"),
                 "--validation_file", str(tmp_path / "stories.csv"), "--text_column", "context",
                 "--choice_columns", "one", "two", *common, "--output_dir", str(tmp_path / "mc")]) == 0
    for name in ("sim", "mc"):
        assert main(["export", "--run", str(tmp_path / name), "--output_dir", str(tmp_path / f"hub-{name}")]) == 0
        code = _card_code(tmp_path / f"hub-{name}").replace("print(", "answer = (")
        extra = "result = {'answer': answer, " + ("'logits': logits.tolist()}" if name == "sim" else "'probabilities': probabilities.tolist()}")
        result = run_plain_transformers(code + "\n" + extra, tmp_path)
        run = load_task_run(tmp_path / name)
        if name == "sim":
            a, b = "A man is playing a guitar.", "A man plays an instrument."
            dataset = run.encode([Example(0, a, b)])
        else:
            context = "Karen was assigned a roommate. They got along well and went to a concert together."
            dataset = run.encode([Example(0, context, choices=("Karen became good friends with her roommate.", "Karen hated her roommate."))])
        batch = run.collator()(dataset.items)
        logits = run.model(batch["input_ids"], batch["attention_mask"]).logits[0]
        if name == "sim":
            torch.testing.assert_close(torch.tensor(result["logits"]), logits, rtol=0, atol=1e-5)
            assert result["answer"] == run.task.label_names[int(logits.argmax())]
        else:
            torch.testing.assert_close(torch.tensor(result["probabilities"]), logits.softmax(-1), rtol=0, atol=1e-5)


def test_model_card_parses_with_hub_metadata(tmp_path, sst2_run):
    from huggingface_hub import ModelCard

    assert main(["export", "--run", str(sst2_run), "--output_dir", str(tmp_path / "hub")]) == 0
    card = ModelCard.load(tmp_path / "hub" / "README.md")
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-classification"
    assert card.data.license == "mit" and card.data.datasets == ["nyu-mll/glue"]
    accuracy = json.loads((sst2_run / "eval_results.json").read_text())["accuracy"]
    [result] = card.data.eval_results
    assert (result.metric_type, result.dataset_config, result.metric_value) == ("accuracy", "sst2", pytest.approx(accuracy))
    for section in ("## How to use", "## Training", "## Evaluation", "## Intended use and limitations"):
        assert section in card.text


def test_push_to_hub_offline_is_a_clear_error_after_a_complete_export(tmp_path, sst2_run, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # conftest sets it too: the hub is unreachable here
    status = main(["export", "--run", str(sst2_run), "--output_dir", str(tmp_path / "hub"), "--push_to_hub", "someone/genpt-test"])
    message = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bars
    assert status == 2 and message.startswith("genpt export: error:") and "someone/genpt-test" in message and "export itself is complete" in message
    assert (tmp_path / "hub" / "model.safetensors").is_file() and (tmp_path / "hub" / "README.md").is_file()


def test_an_exported_classifier_is_not_taken_for_a_language_model(tmp_path, sst2_run, capsys):
    """As its run folder is refused by the commands that read a language model, so is its export
    (transformers would load its body under an LM head without a word)."""
    assert main(["export", "--run", str(sst2_run), "--output_dir", str(tmp_path / "hub")]) == 0
    text = tmp_path / "text.txt"
    text.write_text("It was a dark and stormy night.\n")
    capsys.readouterr()
    for argv in (["eval", "lm", "--run", str(tmp_path / "hub"), "--input", str(text)],
                 ["eval", "zeroshot", "--run", str(tmp_path / "hub"), "--tasks", "sst2", "--glue_dir", str(default_glue_dir())],
                 ["generate", "--run", str(tmp_path / "hub"), "--prompt", "It was"]):
        assert main(argv) == 2
        assert "a model with a task head (OpenAIGPTForSequenceClassification" in capsys.readouterr().err


def test_exporting_something_else_is_an_error(tmp_path, capsys):
    assert main(["export", "--run", str(tmp_path), "--output_dir", str(tmp_path / "hub")]) == 2
    assert "not a genpt run folder" in capsys.readouterr().err
    assert not (tmp_path / "hub").exists()


def test_gpt2_folder_imports_for_fine_tuning_with_equal_logits(tmp_path, tokenizer_dir):
    """--init with a Hugging Face gpt2 folder (built from a config, no download)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from genpt.pretrained import load_pretrained
    from genpt.tokenization import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir)
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                    activation_function="gelu_new")).eval()
    hf.save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(str(tmp_path / "gpt2"))
    loaded = load_pretrained(str(tmp_path / "gpt2"))
    assert loaded.model.config.prenorm
    ids = torch.randint(0, len(tokenizer), (2, 16))
    torch.testing.assert_close(loaded.model.eval()(ids).logits, hf(ids).logits, rtol=0, atol=1e-5)
    task_model = GPTForTask(loaded.model.config, "single", 2)
    task_model.transformer.load_state_dict(loaded.model.state_dict())  # what --init does


def _openai_gpt_folder(folder: Path, tokenizer) -> "torch.nn.Module":
    from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

    torch.manual_seed(0)
    hf = OpenAIGPTLMHeadModel(OpenAIGPTConfig(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2)).eval()
    hf.save_pretrained(folder)
    tokenizer.save_pretrained(str(folder))
    return hf


def test_pretraining_continues_from_a_hugging_face_folder(tmp_path, tokenizer_dir):
    """`genpt pretrain --init HF_DIR`: the architecture, weights and tokenizer come from the folder."""
    from safetensors.torch import load_file

    from genpt.convert import from_hf_state_dict
    from genpt.tokenization import load_tokenizer

    hf = _openai_gpt_folder(tmp_path / "hf", load_tokenizer(tokenizer_dir))
    run = tmp_path / "run"
    command = ["pretrain", "--init", str(tmp_path / "hf"), "--input", str(default_corpus_dir()), "--output_dir", str(run),
               "--batch_size", "2", "--seq_len", "32", "--learning_rate", "1e-12", "--warmup_steps", "0",
               "--eval_tokens", "256", "--mixed_precision", "no"]
    assert main([*command, "--max_steps", "1"]) == 0
    resumed = tmp_path / "resumed"  # the same command with --resume auto is the same run (a copy: the test reads the first)
    shutil.copytree(run, resumed)
    assert main([*[str(resumed) if a == str(run) else a for a in command], "--max_steps", "1", "--resume", "auto"]) == 0
    assert json.loads((resumed / "trainer_state.json").read_text())["step"] == 1
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["model"]["n_layer"], config["model"]["n_embd"], config["training"]["init"]) == (2, 32, str(tmp_path / "hf"))
    expected = from_hf_state_dict(hf.state_dict(), GPTConfig(**{**TINY, "vocab_size": len(load_tokenizer(tokenizer_dir))}))
    trained = load_file(run / "model.safetensors")
    for name, tensor in trained.items():  # one step at lr 1e-12 leaves the imported weights as they were
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=1e-6)


def test_a_foreign_tokenizer_gets_gpt1s_special_tokens_on_import(tmp_path):
    """A Hugging Face folder whose tokenizer lacks start/delim/extract/pad: they are added and
    the embedding grows, the old rows unchanged."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from genpt import special_tokens
    from genpt.pretrained import load_pretrained

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.train_from_iterator(["the cat sat on the mat"] * 50, trainers.BpeTrainer(vocab_size=300, show_progress=False))
    foreign = PreTrainedTokenizerFast(tokenizer_object=raw)
    hf = _openai_gpt_folder(tmp_path / "hf", foreign)
    loaded = load_pretrained(str(tmp_path / "hf"))
    assert len(loaded.tokenizer) == len(foreign) + len(special_tokens.ALL) == loaded.model.config.vocab_size
    assert all(token in loaded.tokenizer.get_vocab() for token in special_tokens.ALL)
    old = hf.transformer.tokens_embed.weight
    torch.testing.assert_close(loaded.model.wte.weight[: old.size(0)], old, rtol=0, atol=0)
    ids = torch.randint(0, old.size(0), (1, 12))
    torch.testing.assert_close(loaded.model.eval()(ids).logits[..., : old.size(0)], hf(ids).logits, rtol=0, atol=1e-5)
    torch.manual_seed(123)  # the new rows do not depend on the global seed
    torch.testing.assert_close(load_pretrained(str(tmp_path / "hf")).model.wte.weight, loaded.model.wte.weight, rtol=0, atol=0)
    # eval lm: the <|endoftext|> this model never learned separates the two documents, unscored
    from genpt.eval.lm import evaluate_lm, load_language_model, text_tokens

    (tmp_path / "docs").mkdir()
    for name in ("a", "b"):
        (tmp_path / "docs" / f"{name}.txt").write_text("the cat sat on the mat " * 8)
    tokens, _ = text_tokens(load_language_model(str(tmp_path / "hf")).tokenizer, [str(tmp_path / "docs")])
    end = loaded.tokenizer.convert_tokens_to_ids(special_tokens.ENDOFTEXT)
    assert tokens.count(end) == 2 and tokens[-1] == end
    first = evaluate_lm(str(tmp_path / "hf"), [str(tmp_path / "docs")], window=64, stride=32, show_progress=False)
    assert first["tokens"] == len(tokens) - 1 - 2  # every token but the first, and neither separator
    assert evaluate_lm(str(tmp_path / "hf"), [str(tmp_path / "docs")], window=64, stride=32, show_progress=False) == first


def test_a_hugging_face_folder_never_runs_its_own_code(tmp_path):
    """A config.json whose auto_map names the folder's Python: refused, even when the user
    answers transformers' "run the custom code?" with y."""
    folder = tmp_path / "remote"
    folder.mkdir()
    marker = tmp_path / "ran"
    (folder / "config.json").write_text(json.dumps({
        "model_type": "custom-gpt", "auto_map": {"AutoConfig": "custom.CustomConfig",
                                                 "AutoModelForCausalLM": "custom.CustomModel"}}))
    (folder / "custom.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                      "from transformers import PretrainedConfig\n"
                                      "class CustomConfig(PretrainedConfig):\n    model_type = 'custom-gpt'\n")
    for argv in (["eval", "lm", "--run", str(folder), "--input", str(default_corpus_dir())],
                 ["pretrain", "--init", str(folder), "--input", str(default_corpus_dir()), "--output_dir", str(tmp_path / "out")]):
        done = subprocess.run([sys.executable, "-m", "genpt", *argv], input="y\ny\n", capture_output=True, text=True,
                              timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert done.returncode == 2 and not marker.exists(), done.stderr[-2000:]
        assert f"{folder}: could not load the Hugging Face config" in done.stderr


def test_a_tokenizer_given_beside_a_hugging_face_folder_must_be_its_own(tmp_path, tokenizer_dir, capsys):
    from genpt.tokenization import load_tokenizer

    _openai_gpt_folder(tmp_path / "hf", load_tokenizer(tokenizer_dir))
    other = tmp_path / "other"  # as many tokens, other merges
    corpus = tmp_path / "corpus.txt"
    corpus.write_text((GLUE / "SST-2" / "train.tsv").read_text()[:200_000])
    train_tokenizer([corpus], output_dir=other, vocab_size=1000, show_progress=False)
    argv = ["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", str(tmp_path / "hf"),
            "--output_dir", str(tmp_path / "out")]
    assert main([*argv, "--tokenizer", str(other)]) == 2
    assert "not the tokenizer the model was trained with" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
