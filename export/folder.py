"""Export a genpt run as a Hugging Face hub folder that plain `transformers` loads.

A pretraining run becomes a causal LM (`OpenAIGPTLMHeadModel`, or `GPT2LMHeadModel` for
pre-LN models): `AutoModelForCausalLM` and `pipeline("text-generation")`.

A fine-tuned run becomes `OpenAIGPTForSequenceClassification` (or GPT-2's): the same body
and our `score` layer, which reads the last real token, that is the extract token. The
tokenizer's template builds `start A extract` and `start A delim B extract`, so
`AutoModelForSequenceClassification` and `pipeline("text-classification")` reproduce
classification and entailment exactly. The score layer has no bias, so the two GPT-1
heads that have no `transformers` class reduce to sums and softmaxes of its logits:
similarity adds the logits of the two orderings, multiple choice takes one logit per
candidate. The model card says how, and a test runs what it says.

Folder: config.json, model.safetensors, tokenizer files, generation_config.json, README.md
(the model card, `genpt.export.model_card`); `genpt.export.hub` uploads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from tokenizers import processors

from genpt import __version__, special_tokens
from genpt.atomic import check_output_folder, refuse_nested, remove_stale_staging, write_folder_atomically
from genpt.config import read_yaml_mapping
from genpt.convert import to_hf_config, to_hf_model, to_hf_state_dict
from genpt.data.tasks import Task
from genpt.errors import GenptError
from genpt.export.hub import check_repo_id, upload
from genpt.export.model_card import model_card
from genpt.pretrained import load_pretrained
from genpt.task_run import TaskRun, load_task_run
from genpt.tokenization import add_gpt1_templates, save_tokenizer


def export_run(run_dir: str | Path, output_dir: str | Path, *, overwrite: bool = False, allow_unfinished: bool = False,
               push_to_hub: str | None = None, private: bool = False) -> dict[str, Any]:
    """Write the hub folder for a pretraining or fine-tuning run; optionally upload it.

    `output_dir` must be absent, empty, or an earlier export (replaced only with
    `overwrite`), and must lie outside the run. An unfinished run is refused unless
    `allow_unfinished`, and its model card then says that it is unfinished.
    """
    run_dir, output_dir = Path(run_dir), Path(output_dir)
    if output_dir.is_symlink():  # the user's link stays: the folder it points to is written
        output_dir = output_dir.resolve()
    values = read_yaml_mapping(run_dir / "config.yaml") if (run_dir / "config.yaml").is_file() else None
    if values is None:
        raise GenptError(f"--run {run_dir}: not a genpt run folder (no config.yaml)")
    if values.get("arch", "gpt") != "gpt":
        raise GenptError(f"--run {run_dir}: a {values['arch']} baseline has no Hugging Face class to export to; only GPT runs export")
    if "seq2seq" in values:  # its inputs are `start source delim target`: not a plain-text language model
        raise GenptError(f"--run {run_dir}: a genpt seq2seq (translation) run; genpt export writes pretrained language "
                         "models and fine-tuned classifiers")
    if push_to_hub:
        check_repo_id(push_to_hub)
    refuse_nested(output_dir, run_dir, source_option="--run")
    check_output_folder(output_dir, what="a genpt export", is_ours=is_export, overwrite=overwrite)
    unfinished = unfinished_reason(run_dir, values)
    if unfinished and not allow_unfinished:
        remedy = ("export its run's folder once the run has finished" if _is_checkpoint(run_dir)
                  else "finish it (run its command again with --resume auto)")
        raise GenptError(f"--run {run_dir}: {unfinished}; {remedy}, or pass --allow_unfinished to export it as it is")
    remove_stale_staging(output_dir.parent, {output_dir.name})  # what killed exports left
    if "task" in values:
        summary = _export_classifier(load_task_run(run_dir), values, output_dir, unfinished)
    else:
        summary = _export_causal_lm(run_dir, values, output_dir, unfinished)
    if push_to_hub:
        summary["url"] = upload(output_dir, push_to_hub, private)
    return summary


EXPORT_MARK = "genpt_export"  # a config.json key: this folder was written by genpt export


# What an export folder holds. A folder with anything else beside them (a clone's .git, the
# user's notes) is not only an earlier export: replacing it would delete the user's files.
EXPORT_FILES = {"config.json", "model.safetensors", "generation_config.json", "README.md", "tokenizer.json",
                "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt"}


def is_export(folder: Path) -> bool:
    """Whether `folder` is a genpt export (its config.json carries genpt's mark) and nothing else."""
    try:
        marked = EXPORT_MARK in json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return marked and all(entry.name in EXPORT_FILES for entry in folder.iterdir())


def unfinished_reason(run_dir: Path, values: dict[str, Any]) -> str | None:
    """Why the run is not finished, or None when it is (or cannot be told)."""
    if "task" in values:  # fine-tuning writes eval_results.json only when it finishes
        if not (run_dir / "eval_results.json").is_file():
            return "the fine-tuning run is unfinished (no eval_results.json)"
        return None
    state_file = run_dir / "trainer_state.json"
    if not (run_dir / "model.safetensors").is_file():
        return "the pretraining run is unfinished (no model.safetensors)"
    if state_file.is_file():
        try:
            state = json.loads(state_file.read_text())
        except ValueError:
            return None
        if state.get("stop_reason") == "interrupted":
            return f"the pretraining run was interrupted at step {state.get('step')}"
        planned = (state.get("config") or {}).get("max_steps")  # a checkpoint's state holds its run's config
        if ("stop_reason" not in state and isinstance(planned, int) and state.get("step", planned) < planned
                and not _where_its_run_stopped(run_dir, state["step"])):
            return f"a checkpoint from mid-run at step {state['step']:,} of the run's {planned:,}"
    return None


def _is_checkpoint(folder: Path) -> bool:
    return folder.parent.name == "checkpoints"  # RUN/checkpoints/step-N


def _where_its_run_stopped(checkpoint: Path, step: int) -> bool:
    """Whether `checkpoint` (RUN/checkpoints/step-N) holds the step its run finished at, short
    of max_steps (a run stopped by --max_time_minutes): then RUN holds the same weights."""
    run_state = checkpoint.parent.parent / "trainer_state.json"
    if not _is_checkpoint(checkpoint) or not run_state.is_file():
        return False
    try:
        state = json.loads(run_state.read_text())
    except ValueError:
        return False
    return state.get("step") == step and state.get("stop_reason") not in (None, "interrupted")


# ---- the two kinds of run ---------------------------------------------------------------


def _export_causal_lm(run_dir: Path, values: dict[str, Any], output_dir: Path, unfinished: str | None) -> dict[str, Any]:
    pretrained = load_pretrained(str(run_dir), option="--run")
    tokenizer, model = pretrained.tokenizer, pretrained.model
    hf_model = to_hf_model(model, **token_ids(tokenizer))
    hf_model.config.genpt_export = __version__
    # A language model is prompted with plain text, as pretraining saw it: not with the
    # classifier's `start ... extract` template, whose extract token pretraining never saw.
    tokenizer.backend_tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.bos_token = special_tokens.ENDOFTEXT  # what pretraining put before each text, as config.json says
    card = model_card(run_dir, values, model.config, hf_model, task=None, results=None, unfinished=unfinished)

    def fill(staging: Path) -> None:
        hf_model.save_pretrained(str(staging))
        # a batch of prompts is padded on the left, so each continues from its own last token
        _save_tokenizer(tokenizer, staging, model.config.n_positions, padding_side="left")
        _generation_config(tokenizer).save_pretrained(str(staging))
        card.save(str(staging / "README.md"))

    write_folder_atomically(output_dir, fill)
    return {"kind": "causal-lm", "class": type(hf_model).__name__, "output_dir": str(output_dir)}


def _export_classifier(run: TaskRun, values: dict[str, Any], output_dir: Path, unfinished: str | None) -> dict[str, Any]:
    hf_model = to_hf_classifier(run)
    hf_model.config.genpt_export = __version__
    results_file = run.folder / "eval_results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else None
    card = model_card(run.folder, values, run.model.config, hf_model, task=run.task, results=results, unfinished=unfinished)

    # genpt builds the `start a delim b extract` inputs itself, so a run's tokenizer need not
    # hold the template (one from a Hugging Face folder does not): `pipeline` users need it.
    add_gpt1_templates(run.tokenizer.backend_tokenizer)

    def fill(staging: Path) -> None:
        hf_model.save_pretrained(str(staging))
        _save_tokenizer(run.tokenizer, staging, run.max_seq_length)  # the classifier reads the last real token either way
        card.save(str(staging / "README.md"))

    write_folder_atomically(output_dir, fill)
    return {"kind": run.task.input_format, "class": type(hf_model).__name__, "output_dir": str(output_dir)}


def to_hf_classifier(run: TaskRun):
    """`OpenAIGPTForSequenceClassification` (GPT2ForSequenceClassification when pre-LN)
    computing exactly the fine-tuned model's per-sequence logits."""
    from transformers import (
        GPT2ForSequenceClassification,
        OpenAIGPTForSequenceClassification,
    )

    config = run.model.config
    hf_config = to_hf_config(config, **token_ids(run.tokenizer))
    hf_config.num_labels = run.task.num_labels
    hf_config.id2label = dict(enumerate(label_names(run.task)))
    hf_config.label2id = {name: i for i, name in hf_config.id2label.items()}
    if run.task.input_format != "multiple_choice":  # one logit per candidate: no transformers problem type fits
        hf_config.problem_type = "regression" if run.task.is_regression else "single_label_classification"
    hf_config.genpt_task = run.task.name  # read by people and by genpt; transformers ignores it
    hf_config.genpt_input_format = run.task.input_format
    hf_class = GPT2ForSequenceClassification if config.prenorm else OpenAIGPTForSequenceClassification
    hf_model = hf_class(hf_config)
    body = {k: v for k, v in to_hf_state_dict(run.model.transformer.state_dict(), config).items() if k != "lm_head.weight"}
    state = {**body, "score.weight": run.model.score.weight.detach()}
    expected = hf_model.state_dict()
    for name, tensor in state.items():
        if name not in expected or expected[name].shape != tensor.shape:
            raise GenptError(f"{name}: does not fit {hf_class.__name__} (expected {tuple(expected.get(name, torch.empty(0)).shape)})")
    missing = set(expected) - set(state) - {"transformer.position_ids"}
    if missing:
        raise GenptError(f"{hf_class.__name__}: no genpt weights for {sorted(missing)[:3]}")
    hf_model.load_state_dict(state, strict=False)
    return hf_model.eval()


def label_names(task: Task) -> list[str]:
    if task.input_format == "multiple_choice":
        return ["choice_score"]  # one logit per candidate sequence
    if task.is_regression:
        return ["score"]
    return list(task.label_names or [])


def token_ids(tokenizer) -> dict[str, int]:
    ids = lambda token: tokenizer.convert_tokens_to_ids(token)  # noqa: E731
    return {"bos_token_id": ids(special_tokens.ENDOFTEXT), "eos_token_id": ids(special_tokens.ENDOFTEXT),
            "pad_token_id": ids(special_tokens.PAD)}


def _save_tokenizer(tokenizer, folder: Path, max_length: int, padding_side: str = "right") -> None:
    tokenizer.model_max_length = max_length  # so `truncation=True` cuts where genpt did
    tokenizer.padding_side = padding_side
    save_tokenizer(tokenizer, folder)


def _generation_config(tokenizer):
    from transformers import GenerationConfig

    ids = token_ids(tokenizer)
    return GenerationConfig(bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"], pad_token_id=ids["pad_token_id"],
                            do_sample=True, top_k=40, top_p=0.95, temperature=0.8, max_new_tokens=64)
