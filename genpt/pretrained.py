"""Where a fine-tuned (or further-trained) GPT starts: `--init RUN_DIR | HF_DIR | scratch`.

- a genpt pretraining run folder (or its `best/` or `checkpoints/step-N/`): config.yaml,
  model.safetensors, and the run's tokenizer/ folder;
- a Hugging Face `openai-gpt` or `gpt2` folder (config.json + weights + tokenizer),
  converted through `genpt.convert`; GPT-1's special tokens are added to its vocabulary
  when missing, with freshly initialised embeddings (paper, section 3.3);
- `scratch`: the same architecture, randomly initialised: the paper's "no pre-training"
  ablation (Table 5). It needs `--tokenizer` and `--preset`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from genpt import checkpoint as ckpt
from genpt import special_tokens
from genpt.config import GPTConfig, read_yaml_mapping
from genpt.errors import GenptError
from genpt.models.gpt import GPT
from genpt.tokenization import check_same_tokenizer, load_tokenizer

PRETRAINING_KEYS = ("step", "tokens_seen", "elapsed_seconds", "stop_reason")
PRETRAINING_FILE = "pretraining.json"  # in a fine-tuned run: its --init and that run's PRETRAINING_KEYS when it started


@dataclass
class Pretrained:
    model: GPT
    tokenizer: object  # PreTrainedTokenizerFast with genpt's special tokens
    tokenizer_dir: Path | None  # where the tokenizer came from (copied into new runs)
    source: str  # what the model was initialised from, for configs and model cards
    # a genpt pretraining run's trainer_state.json as it was when loaded (step, tokens_seen,
    # elapsed_seconds, stop_reason): the pretraining these weights had, which the run may outgrow later
    pretraining: dict | None = None
    # what a Hugging Face model's config.json says it is (["OpenAIGPTLMHeadModel"], an exported
    # classifier's ["OpenAIGPTForSequenceClassification"]); None for genpt runs and from scratch
    hf_architectures: list[str] | None = None
    # GPT-1's special tokens genpt added to a Hugging Face tokenizer: their embedding rows are
    # new, never trained (openai-gpt has no <|endoftext|>)
    untrained_tokens: tuple[str, ...] = ()


def load_pretrained(init: str, *, tokenizer: str | None = None, preset: str | None = None,
                    option: str = "--init") -> Pretrained:
    """The model and tokenizer `init` names; errors name `option`, the flag that gave it."""
    if init == "scratch":
        if option != "--init":  # `generate --run scratch`: nothing to build it from
            raise GenptError(f"{option} scratch: expected a run folder, a Hugging Face folder or a hub id")
        return _scratch(tokenizer, preset)
    folder = Path(init).expanduser()
    if (folder / "config.yaml").is_file() and (folder / ckpt.MODEL_FILE).is_file():
        return _genpt_run(folder, tokenizer, option)
    if (folder / "config.json").is_file():
        return _hugging_face(str(folder), tokenizer, local=True, option=option)
    if folder.exists():
        raise GenptError(
            f"{option} {init}: expected a genpt run folder (config.yaml + {ckpt.MODEL_FILE}), "
            "a Hugging Face model folder (config.json), or 'scratch'"
        )
    if looks_like_hub_id(init):  # for users who are online
        return _hugging_face(init, tokenizer, local=False, option=option)
    raise GenptError(f"{option} {init}: no such folder (expected a run folder, a Hugging Face folder or hub id, or 'scratch')")


# The hub's names without a namespace (its legacy models): everything else is namespace/name.
LEGACY_HUB_IDS = ("openai-gpt", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "distilgpt2")


def looks_like_hub_id(name: str) -> bool:
    """`openai-gpt`, `gpt2` or `namespace/name`; a path that is not there (`/runs/x`, `../run`,
    `runs/mini/checkpoints/step-100`, `runs/mni` beside a `runs/` folder) is a missing folder,
    not something to ask the hub for."""
    if name in LEGACY_HUB_IDS:
        return True
    return re.fullmatch(r"[\w-][\w.-]*/[\w.-]+", name) is not None and not Path(name.split("/")[0]).is_dir()


def _scratch(tokenizer: str | None, preset: str | None) -> Pretrained:
    if tokenizer is None or preset is None:
        raise GenptError("--init scratch needs --tokenizer DIR and --preset NAME to say what to build")
    loaded = load_tokenizer(tokenizer)
    config = GPTConfig.from_name(preset)
    config = GPTConfig(**{**config.to_dict(), "vocab_size": len(loaded)})  # the preset follows the tokenizer
    return Pretrained(GPT(config), loaded, Path(tokenizer), source="scratch")


def _genpt_run(folder: Path, tokenizer: str | None, option: str) -> Pretrained:
    values = read_yaml_mapping(folder / "config.yaml")
    if "model" not in values:
        raise GenptError(f"{option} {folder}: config.yaml has no `model:` section; is this a genpt run folder?")
    config = GPTConfig.from_dict(values["model"], source=f"{folder / 'config.yaml'} (model)")
    own_tokenizer = _run_tokenizer_dir(folder, option, hint=tokenizer is None)
    tokenizer_dir = Path(tokenizer) if tokenizer else own_tokenizer
    loaded = load_tokenizer(tokenizer_dir)
    if len(loaded) != config.vocab_size:
        raise GenptError(
            f"{option} {folder}: the model has a vocabulary of {config.vocab_size} but the tokenizer {tokenizer_dir} "
            f"has {len(loaded)} tokens; they do not belong together"
        )
    if tokenizer and own_tokenizer is not None:
        check_same_tokenizer(loaded, tokenizer_dir, load_tokenizer(own_tokenizer), own_tokenizer)
    model = GPT(config)
    ckpt.load_weights(model, folder / ckpt.MODEL_FILE)
    state = pretraining_state(folder)
    warn_if_interrupted(folder, values, state, option)
    return Pretrained(model, loaded, tokenizer_dir, source=str(folder), pretraining=state)


def pretraining_state(folder: Path) -> dict | None:
    """What the run in `folder` had trained when its weights were saved (None: no trainer_state.json)."""
    if not (folder / ckpt.STATE_FILE).is_file():
        return None
    state = ckpt.read_state(folder)
    return {key: state[key] for key in PRETRAINING_KEYS if key in state}


def warn_if_interrupted(folder: Path, values: dict, state: dict | None, option: str) -> None:
    """Ctrl-C on `genpt pretrain` leaves model.safetensors at the step it stopped: a usable
    model, but not the run its config describes. Say so."""
    if state is None or state.get("stop_reason") != "interrupted":
        return
    planned = (values.get("training") or {}).get("max_steps")
    of = f" of {planned:,}" if isinstance(planned, int) else ""
    print(f"genpt: {option} {folder}: this pretraining run was interrupted at step {state.get('step', 0):,}{of}; "
          "its weights are that step's (continue it with genpt pretrain --resume auto)", file=sys.stderr, flush=True)


def _run_tokenizer_dir(folder: Path, option: str, hint: bool) -> Path | None:
    """A run keeps its tokenizer at its top; `best/` and `checkpoints/step-N/` sit below it.
    None when there is none and `hint` is false (a tokenizer was given)."""
    for candidate in (folder, folder.parent, folder.parent.parent):
        if (candidate / "tokenizer" / "tokenizer.json").is_file():
            return candidate / "tokenizer"
    if not hint:
        return None
    extra = "; pass --tokenizer DIR" if option == "--init" else ""
    raise GenptError(f"{option} {folder}: no tokenizer/ folder in the run{extra}")


# The architectures genpt converts: GPT-1's, and GPT-2's (its pre-LN variant).
HF_MODEL_TYPES = ("openai-gpt", "gpt2")
# What a Hugging Face folder may hold its tokenizer in.
HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json")


def _hugging_face(name: str, tokenizer: str | None, local: bool, option: str = "--init") -> Pretrained:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from genpt.convert import from_hf_model

    where = {"local_files_only": local, "trust_remote_code": False}  # a folder's own Python code never runs
    try:
        hf_config = AutoConfig.from_pretrained(name, **where)  # before any weights are read
    except Exception as error:  # noqa: BLE001 - a missing file, a foreign config, code it would have to run
        raise GenptError(f"{option} {name}: could not load the Hugging Face config ({_hub_reason(error, local)})") from None
    model_type = hf_config.model_type
    if model_type not in HF_MODEL_TYPES:
        raise GenptError(f"{option} {name}: a {model_type} model; genpt loads {' and '.join(HF_MODEL_TYPES)} models "
                         "(GPT-1's and GPT-2's architectures)")
    if tokenizer is None and not _has_tokenizer(name, local):
        raise GenptError(f"{option} {name}: no tokenizer files in the folder; pass --tokenizer DIR")
    try:
        hf_model = AutoModelForCausalLM.from_pretrained(name, use_safetensors=True, **where)  # weights never unpickled
        own = None if tokenizer and not _has_tokenizer(name, local) else AutoTokenizer.from_pretrained(name, **where)
    except Exception as error:  # noqa: BLE001 - missing files, a refused pickle: one line each
        raise GenptError(f"{option} {name}: could not load the Hugging Face model ({_hub_reason(error, local)})") from None
    loaded = load_tokenizer(tokenizer) if tokenizer else own
    added = add_special_tokens(loaded)
    if own is not None and loaded is not own:  # a --tokenizer beside the folder's own: the one it was trained with
        add_special_tokens(own)
        check_same_tokenizer(loaded, tokenizer, own, name)
    try:
        model = from_hf_model(hf_model.float())
        if added or len(loaded) != model.config.vocab_size:
            model = resize_token_embeddings(model, len(loaded))
    except GenptError as error:
        raise GenptError(f"{option} {name}: {error}") from None
    architectures = hf_config.architectures
    return Pretrained(model, loaded, Path(tokenizer) if tokenizer else None, source=name,
                      hf_architectures=[architectures] if isinstance(architectures, str) else list(architectures or []),
                      untrained_tokens=tuple(added))


def _has_tokenizer(name: str, local: bool) -> bool:
    """Whether the model's own tokenizer can be loaded (a hub repo: assumed)."""
    return not local or any((Path(name) / file).is_file() for file in HF_TOKENIZER_FILES)


def _hub_reason(error: Exception, local: bool) -> str:
    """transformers' first line, or what to do when the hub cannot be reached."""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    if not local and ("connect" in reason.lower() or "offline" in reason.lower() or "cached" in reason.lower()):
        return ("not in the local cache, and the hub cannot be reached: download it where you are online "
                "(`hf download NAME --local-dir DIR`) and pass DIR")
    return f"{type(error).__name__}: {reason}"


def add_special_tokens(tokenizer) -> list[str]:
    """Give a foreign tokenizer GPT-1's start, delimiter, extract and pad tokens (and an
    end-of-text), so the input transformations can be built; returns those that were new."""
    vocabulary = tokenizer.get_vocab()
    missing = [token for token in special_tokens.ALL if token not in vocabulary]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    tokenizer.pad_token = special_tokens.PAD
    return missing


def resize_token_embeddings(model: GPT, vocab_size: int) -> GPT:
    """A copy of `model` with `vocab_size` token embeddings: the old rows kept, new rows drawn
    from N(0, initializer_range) like the rest of the embedding, by a generator of their own
    (the same rows in every process and every call, whatever the global seed)."""
    if vocab_size < model.config.vocab_size:
        raise GenptError(f"the tokenizer has {vocab_size} tokens, fewer than the model's {model.config.vocab_size}")
    config = GPTConfig(**{**model.config.to_dict(), "vocab_size": vocab_size})
    resized = GPT(config)
    state = model.state_dict()
    old = state["wte.weight"]
    generator = torch.Generator(device="cpu").manual_seed(0)
    new = torch.empty(vocab_size, old.size(1), dtype=old.dtype, device="cpu").normal_(0, config.initializer_range,
                                                                                    generator=generator)
    new[: old.size(0)] = old
    state["wte.weight"] = new
    state["lm_head.weight"] = new
    resized.load_state_dict(state, strict=True)
    return resized.to(torch.float32)
