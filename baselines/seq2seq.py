"""`genpt seq2seq`: translation (or any parallel text) with all three architectures.

The same parallel data, tokenizer, loop and BLEU for the encoder-decoder Transformer, the
LSTM with attention and GPT, so the three can be compared on a generation task:

    transformer, lstm   encoder(source eos) -> decoder(bos target) predicts (target eos)
    gpt                 one sequence `start source delim target extract`, loss on the target
                        and the final `extract` only; decoding continues `start source delim`

(bos = `start`, eos = `extract`.) Training is an accelerate loop with gradient clipping;
each architecture keeps its own optimiser recipe: the Transformer the paper's Adam (0.9,
0.98, 1e-9) with the inverse square-root schedule and label smoothing 0.1 (Vaswani et al.
2017, section 5.3-5.4), the LSTM Adam with linear decay, GPT AdamW (weight decay 0.01 on
matrices) with linear decay. Test translations are decoded with beam search (4 beams,
length penalty 0.6, the Transformer paper's) and scored with sacrebleu's corpus BLEU.

Data: DIR/{train,val,test_2016_flickr}.{src,tgt}[.gz], one sentence per line, lines aligned
(Multi30k's layout; other prefixes by option).
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from genpt import checkpoint as ckpt
from genpt import engine
from genpt.atomic import refuse_nested, write_file_atomically, write_folder_atomically, write_json_atomically
from genpt.baselines.config import Seq2SeqConfig
from genpt.config import check_training_arguments
from genpt.data.transformations import SpecialIds
from genpt.errors import GenptError
from genpt.metrics import corpus_bleu
from genpt.models.architectures import baseline_config
from genpt.models.decoding import GPTPromptDecoder, beam_search, greedy_decode
from genpt.models.gpt import IGNORE_INDEX
from genpt.options import require_counts
from genpt.plots import plot_loss_curves
from genpt.pretrained import load_pretrained
from genpt.tokenization import load_tokenizer, save_tokenizer
from genpt.training import (
    adamw,
    new_accelerator,
    stop_on_interrupt,
)

DEFAULT_PRESET = {"transformer": "small", "lstm": "small", "gpt": "mini"}
DEFAULT_LEARNING_RATE = {"transformer": 1e-3, "lstm": 1e-3, "gpt": 5e-4}  # peak, after warm-up


@dataclass
class Pair:
    source: str
    target: str


# ---- data ---------------------------------------------------------------------------------------


def read_parallel(data_dir: str | Path, prefix: str, source_lang: str, target_lang: str) -> list[Pair]:
    """Aligned sentence pairs from DIR/prefix.src and DIR/prefix.tgt (either may be .gz)."""
    source_lines = _read_lines(_find(Path(data_dir), prefix, source_lang))
    target_path = _find(Path(data_dir), prefix, target_lang)
    target_lines = _read_lines(target_path)
    if len(source_lines) != len(target_lines):
        raise GenptError(f"{target_path}: {len(target_lines)} lines, but the {source_lang} side has "
                         f"{len(source_lines)}; parallel files need one sentence per line, aligned")
    for number, (source, target) in enumerate(zip(source_lines, target_lines), start=1):
        if not source.strip() or not target.strip():
            raise GenptError(f"{target_path}: line {number} has an empty side; expected a sentence on each")
    return [Pair(s.strip(), t.strip()) for s, t in zip(source_lines, target_lines)]


def _find(folder: Path, prefix: str, lang: str) -> Path:
    for name in (f"{prefix}.{lang}", f"{prefix}.{lang}.gz"):
        if (folder / name).is_file():
            return folder / name
    raise GenptError(f"--data_dir {folder}: no {prefix}.{lang} or {prefix}.{lang}.gz")


def _read_lines(path: Path) -> list[str]:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return raw.decode("utf-8").splitlines()
    except (OSError, EOFError) as error:
        raise GenptError(f"{path}: unreadable ({error})") from None
    except UnicodeDecodeError as error:
        raise GenptError(f"{path}: not UTF-8 text (byte {error.start})") from None


@dataclass
class Encoded:
    source: list[int]  # source tokens, no specials
    target: list[int]


def encode_pairs(pairs: list[Pair], tokenizer, config: Seq2SeqConfig) -> list[Encoded]:
    def ids(texts: list[str]) -> list[list[int]]:
        return tokenizer([" " + t for t in texts], add_special_tokens=False)["input_ids"]  # as mid-text words

    sources, targets = ids([p.source for p in pairs]), ids([p.target for p in pairs])
    return [Encoded(s[: config.max_source_length], t[: config.max_target_length]) for s, t in zip(sources, targets)]


def _pad(rows: list[list[int]], value: int, left: bool = False, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, longest) ids, padded on the right (or left); batches are built on the host unless told."""
    width = max(map(len, rows))
    return torch.tensor([[value] * (width - len(r)) + r if left else r + [value] * (width - len(r)) for r in rows], device=device)


def _mask(rows: list[list[int]], left: bool = False, device: torch.device | str = "cpu") -> torch.Tensor:
    return _pad([[1] * len(r) for r in rows], 0, left, device)


class EncoderDecoderCollator:
    """Source `x eos`; decoder input `bos y`; labels `y eos`, all right-padded."""

    def __init__(self, ids: SpecialIds):
        self.ids = ids

    def __call__(self, items: list[Encoded]) -> dict[str, torch.Tensor]:
        sources = [e.source + [self.ids.extract] for e in items]
        tgt_in = [[self.ids.start] + e.target for e in items]
        labels = [e.target + [self.ids.extract] for e in items]
        return {"src_ids": _pad(sources, self.ids.pad), "src_mask": _mask(sources), "tgt_in": _pad(tgt_in, self.ids.pad),
                "tgt_mask": _mask(tgt_in), "labels": _pad(labels, IGNORE_INDEX)}


class GPTCollator:
    """`start x delim y extract`; labels copy the ids from `y` on (GPT shifts them), -100 before."""

    def __init__(self, ids: SpecialIds, context: int):
        self.ids, self.context = ids, context

    def sequence(self, item: Encoded) -> tuple[list[int], int]:
        """The ids, and how many of them are the prompt `start x delim`."""
        source = item.source[: max(1, self.context // 2 - 2)] if len(item.source) + len(item.target) + 3 > self.context else item.source
        prompt = [self.ids.start, *source, self.ids.delim]
        return (prompt + item.target + [self.ids.extract])[: self.context], len(prompt)

    def __call__(self, items: list[Encoded]) -> dict[str, torch.Tensor]:
        sequences = [self.sequence(item) for item in items]
        labels = [[IGNORE_INDEX] * prompt + ids[prompt:] for ids, prompt in sequences]
        rows = [ids for ids, _ in sequences]
        return {"input_ids": _pad(rows, self.ids.pad), "attention_mask": _mask(rows), "labels": _pad(labels, IGNORE_INDEX)}


def build_model(config: Seq2SeqConfig) -> tuple[torch.nn.Module, Any, Path | None]:
    """The model, its tokenizer, and the tokenizer's folder (copied into the run)."""
    preset = config.preset or DEFAULT_PRESET[config.arch]
    if config.arch == "gpt":
        pretrained = load_pretrained(config.init, tokenizer=config.tokenizer, preset=preset)
        return pretrained.model, pretrained.tokenizer, pretrained.tokenizer_dir
    if config.init != "scratch":
        raise GenptError(f"--arch {config.arch} trains from scratch only: pass --init scratch (only GPT is pretrained)")
    if config.tokenizer is None:
        raise GenptError(f"--arch {config.arch} needs --tokenizer DIR (one tokenizer for both languages)")
    tokenizer = load_tokenizer(config.tokenizer)
    model_config = baseline_config(config.arch, preset, len(tokenizer), SpecialIds.from_tokenizer(tokenizer).pad)
    if config.arch == "transformer":
        from genpt.models.encoder_decoder import EncoderDecoder

        return EncoderDecoder(model_config), tokenizer, Path(config.tokenizer)
    from genpt.models.lstm import LSTMSeq2Seq

    return LSTMSeq2Seq(model_config), tokenizer, Path(config.tokenizer)


def loss_of(model: torch.nn.Module, batch: dict[str, torch.Tensor], arch: str) -> torch.Tensor:
    if arch == "gpt":
        return model(batch["input_ids"], batch["attention_mask"], labels=batch["labels"], return_logits=False).loss
    _, loss = model(batch["src_ids"], batch["src_mask"], batch["tgt_in"], batch["tgt_mask"], batch["labels"])
    return loss


def optimizer_and_schedule(model: torch.nn.Module, config: Seq2SeqConfig, total_steps: int, device) -> tuple[Any, Any]:
    """Each architecture's usual recipe, all peaking at --learning_rate after --warmup_steps."""
    lr = config.learning_rate or DEFAULT_LEARNING_RATE[config.arch]
    warmup = max(1, config.warmup_steps)
    if config.arch == "transformer":  # Vaswani et al. 5.3: Adam(0.9, 0.98, 1e-9), inverse square root
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
        multiplier = lambda done: min((done + 1) / warmup, math.sqrt(warmup / (done + 1)))  # noqa: E731
    else:
        if config.arch == "gpt":
            optimizer = adamw(model, lr=lr, weight_decay=config.weight_decay, device=device)
        else:
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        multiplier = lambda done: min((done + 1) / warmup, max(0.0, (total_steps - done) / max(1, total_steps - warmup)))  # noqa: E731
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)


@torch.no_grad()
def translate(model: torch.nn.Module, data: list[Encoded], ids: SpecialIds, config: Seq2SeqConfig, tokenizer,
              batch_size: int = 64, show_progress: bool = False) -> list[str]:
    """Detokenized translations of `data`'s sources, in order (beam search or greedy)."""
    model.eval()
    order = sorted(range(len(data)), key=lambda i: len(data[i].source))  # similar lengths decode together
    outputs: dict[int, str] = {}
    for start in tqdm(range(0, len(order), batch_size), desc="translating", unit="batch", disable=not show_progress):
        rows = order[start : start + batch_size]
        for index, generated in zip(rows, _generate(model, [data[i] for i in rows], ids, config)):
            outputs[index] = tokenizer.decode(_until_eos(generated, ids.extract), skip_special_tokens=True).strip()
    return [outputs[i] for i in range(len(data))]


def _generate(model: torch.nn.Module, items: list[Encoded], ids: SpecialIds, config: Seq2SeqConfig) -> list[list[int]]:
    B, K = len(items), config.num_beams
    max_length = config.max_target_length + 1  # the target and its eos
    inputs = decoder_inputs(model, items, ids, config)
    if config.arch != "gpt":  # the encoder-decoders decode themselves
        return model.generate(inputs["ids"], inputs["mask"], ids.start, ids.extract, max_length, num_beams=K,
                              length_penalty=config.length_penalty).tolist()
    device = inputs["ids"].device
    decoder = GPTPromptDecoder(model, inputs["ids"], inputs["mask"])
    if K == 1:
        return greedy_decode(decoder, ids.delim, ids.extract, B, max_length, device=device).tolist()
    decoder.reorder(torch.arange(B, device=device).repeat_interleave(K))  # beams of one prompt adjacent
    return beam_search(decoder, ids.delim, ids.extract, B, max_length, K, config.length_penalty, device=device).tolist()


def decoder_inputs(model: torch.nn.Module, items: list[Encoded], ids: SpecialIds, config: Seq2SeqConfig) -> dict[str, torch.Tensor]:
    """What decoding starts from, on the model's device: the encoder-decoders' sources
    `x eos` (right-padded), or GPT's prompts `start x` (left-padded; `delim` is fed first)."""
    device = next(model.parameters()).device
    if config.arch != "gpt":
        sources = [item.source + [ids.extract] for item in items]
        return {"ids": _pad(sources, ids.pad, device=device), "mask": _mask(sources, device=device)}
    room = max(1, model.config.n_positions - (config.max_target_length + 1) - 2)
    prompts = [[ids.start, *item.source[:room]] for item in items]
    return {"ids": _pad(prompts, ids.pad, left=True, device=device), "mask": _mask(prompts, left=True, device=device)}


def _until_eos(tokens: list[int], eos: int) -> list[int]:
    return tokens[: tokens.index(eos)] if eos in tokens else tokens


@torch.no_grad()
def validation_loss(model: torch.nn.Module, data: list[Encoded], collate, arch: str, batch_size: int) -> float:
    """Mean per-token cross-entropy over `data` (label smoothing included for the Transformer)."""
    total, tokens = validation_loss_sums(model, data, collate, arch, batch_size)
    return (total / tokens.clamp(min=1)).item()  # the one host sync of an evaluation


@torch.no_grad()
def validation_loss_sums(model: torch.nn.Module, data: list[Encoded], collate, arch: str,
                         batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed token cross-entropy, tokens) over `data`, computed on the model's device."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = torch.zeros((), dtype=torch.float64, device=device)
    tokens = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, len(data), batch_size):
        batch = engine.to_device(collate(data[start : start + batch_size]), device)
        count = target_tokens(batch, arch).double()
        total += loss_of(model, batch, arch).double() * count
        tokens += count
    model.train(was_training)
    return total, tokens


def target_tokens(batch: dict[str, torch.Tensor], arch: str) -> torch.Tensor:
    """How many target tokens the batch's loss averages over (GPT shifts its labels)."""
    scored = batch["labels"][:, 1:] if arch == "gpt" else batch["labels"]
    return (scored != IGNORE_INDEX).sum()


# ---- the run ------------------------------------------------------------------------------------


def train_seq2seq(config: Seq2SeqConfig, output_dir: str | Path, overwrite: bool = False, show_progress: bool = True,
                  resume: str | None = None) -> dict[str, Any]:
    """Train, translate the test set and score it; returns the summary (and eval_results)."""
    from accelerate.utils import set_seed

    output_dir = Path(output_dir)
    if config.init != "scratch" and Path(config.init).expanduser().exists():  # a run beside or below it is fine
        refuse_nested(output_dir, config.init, source_option="--init", inside_ok=True)
    resume_from = ckpt.find_resume_checkpoint(output_dir, resume, own_only=True)
    engine.check_run_folder(output_dir, resume_from=resume_from, overwrite=overwrite, holds="a trained model",
                     finished_file="eval_results.json")
    _check_options(config)
    if resume_from is not None:
        engine.check_resumable(resume_from, dataclasses.asdict(config), TRAJECTORY_KEYS)
    splits = {name: read_parallel(config.data_dir, prefix, config.source_lang, config.target_lang)
              for name, prefix in (("train", config.train_prefix), ("validation", config.validation_prefix),
                                   ("test", config.test_prefix))}
    set_seed(config.seed)
    model, tokenizer, tokenizer_dir = build_model(config)
    ids = SpecialIds.from_tokenizer(tokenizer)
    train = encode_pairs(splits["train"][: config.max_train_samples], tokenizer, config)
    validation_pairs = splits["validation"][: config.max_eval_samples]
    validation = encode_pairs(validation_pairs, tokenizer, config)
    collate = GPTCollator(ids, model.config.n_positions) if config.arch == "gpt" else EncoderDecoderCollator(ids)

    accelerator = new_accelerator(config.mixed_precision)
    set_seed(config.seed, device_specific=True)
    steps_per_epoch = engine.steps_per_epoch(len(train), config.batch_size, accelerator.num_processes)
    total_steps = config.max_steps or steps_per_epoch * config.num_train_epochs
    optimizer, scheduler = optimizer_and_schedule(model, config, total_steps, accelerator.device)
    state = engine.restore(resume_from, (model, optimizer, scheduler), accelerator) if resume_from else engine.TrainState()
    loader = engine.epoch_loader(train, collate, config.batch_size, config.seed, [len(e.source) + len(e.target) for e in train])
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)  # once, for every epoch
    if accelerator.is_main_process:
        engine.clean_run_folder(output_dir)
        if resume_from is None:
            _start_run_folder(output_dir, accelerator.unwrap_model(model), config, tokenizer, tokenizer_dir)
    schedule = engine.Schedule(total_steps=total_steps, steps_per_epoch=steps_per_epoch, max_grad_norm=config.max_grad_norm,
                        logging_steps=config.logging_steps, eval_steps=config.eval_steps, save_steps=config.save_steps,
                        save_total_limit=config.save_total_limit)
    log = engine.MetricsLog(output_dir, accelerator.is_main_process, resume_step=state.step if resume_from else None, tag="seq2seq")
    trainer = engine.Engine(accelerator, model, optimizer, scheduler, schedule, state, log, output_dir,
                            dataclasses.asdict(config), resumed_from=resume_from)
    stage = Seq2SeqStage(config, accelerator, loader, validation, collate, output_dir,
                         name=f"genpt seq2seq {config.arch} {config.source_lang}->{config.target_lang}")
    with stop_on_interrupt("genpt seq2seq") as interrupted:
        stop_reason = trainer.run(stage, interrupted, show_progress and accelerator.is_main_process)
    summary = {"stop_reason": stop_reason, "steps": state.step, "train_seconds": round(state.train_seconds, 1),
               "output_dir": str(output_dir), "is_main_process": accelerator.is_main_process}
    if stop_reason == "finished" and accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        summary["eval_results"] = _write_outputs(unwrapped, splits, validation_pairs, validation, ids, config, tokenizer,
                                                 output_dir, state, log.records, show_progress)
        shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)  # finished: the checkpoints have served their purpose
    accelerator.end_training()
    return summary


@dataclass
class Seq2SeqStage:
    """What translation adds to the trainer: parallel batches, each architecture's loss, validation loss."""

    config: Seq2SeqConfig
    accelerator: Any
    loader: Any  # prepared
    validation: list[Encoded]
    collate: Any
    output_dir: Path
    name: str = "genpt seq2seq"

    def batches(self, epoch: int, skip: int):
        return engine.epoch_batches(self.accelerator, self.loader, epoch, skip)

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> engine.StepLoss:
        return engine.StepLoss(loss_of(model, batch, self.config.arch), examples=batch["labels"].size(0),
                        tokens=(batch["labels"] != IGNORE_INDEX).sum())

    def record(self, window: engine.Window, state: engine.TrainState, lr: float) -> dict[str, Any]:
        tokens = int(window.tokens) * self.accelerator.num_processes
        return {"step": state.step, "epoch": window.epoch + 1, "loss": round(window.means["loss"], 5), "lr": lr,
                "target_tokens_per_s": round(tokens / max(window.seconds, 1e-9), 1), "train_seconds": round(state.train_seconds, 3)}

    def evaluate(self, trainer: engine.Engine) -> None:
        model = self.accelerator.unwrap_model(trainer.model)
        trainer.log.write({"step": trainer.state.step, "val_loss": validation_loss(
            model, self.validation, self.collate, self.config.arch, self.config.batch_size)})
        if self.accelerator.is_main_process:
            plot_loss_curves(trainer.log.records, self.output_dir / "training_curve.png", title=f"genpt seq2seq: {self.config.arch}")


def _write_outputs(model, splits: dict[str, list[Pair]], validation_pairs: list[Pair], validation: list[Encoded], ids: SpecialIds,
                   config: Seq2SeqConfig, tokenizer, output_dir: Path, state: engine.TrainState, records: list[dict],
                   show_progress: bool) -> dict[str, Any]:
    """Weights, test and validation translations, eval_results.json (BLEU), the curve."""
    model = model.float()  # decoding and scoring in fp32, whatever the training precision
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    write_file_atomically(output_dir / ckpt.MODEL_FILE, lambda p: ckpt.save_state_dict(weights, p))
    test_pairs = splits["test"][: config.max_test_samples]
    test = encode_pairs(test_pairs, tokenizer, config)
    started = time.perf_counter()
    hypotheses = translate(model, test, ids, config, tokenizer, show_progress=show_progress)
    decode_seconds = time.perf_counter() - started
    bleu, signature = corpus_bleu(hypotheses, [p.target for p in test_pairs])
    validation_hypotheses = translate(model, validation, ids, config, tokenizer, show_progress=show_progress)
    validation_bleu, _ = corpus_bleu(validation_hypotheses, [p.target for p in validation_pairs])
    last_val = [r["val_loss"] for r in records if "val_loss" in r]
    results = {"bleu": round(bleu, 2), "validation_bleu": round(validation_bleu, 2), "bleu_signature": signature,
               "validation_loss": last_val[-1] if last_val else None, "test_samples": len(test),
               "num_beams": config.num_beams, "steps": state.step, "train_seconds": round(state.train_seconds, 1),
               "decode_seconds": round(decode_seconds, 1), "num_parameters": sum(p.numel() for p in model.parameters())}
    for name, lines in (("hypotheses_test.txt", hypotheses), ("hypotheses_validation.txt", validation_hypotheses)):
        write_file_atomically(output_dir / name, lambda p, lines=lines: p.write_text("".join(line + "\n" for line in lines)))
    write_json_atomically(output_dir / "eval_results.json", results)
    plot_loss_curves(records, output_dir / "training_curve.png", title=f"genpt seq2seq: {config.arch}")
    return results


def _start_run_folder(output_dir: Path, model, config: Seq2SeqConfig, tokenizer, tokenizer_dir: Path | None) -> None:
    engine.claim_run_folder(output_dir, (ckpt.MODEL_FILE, "eval_results.json", "hypotheses_test.txt", "hypotheses_validation.txt"))
    values = {"arch": config.arch, "model": model.config.to_dict(), "seq2seq": dataclasses.asdict(config)}
    write_file_atomically(output_dir / "config.yaml", lambda p: p.write_text(yaml.safe_dump(values, sort_keys=False)))
    if tokenizer_dir is not None and (tokenizer_dir / "tokenizer.json").is_file():
        write_folder_atomically(output_dir / "tokenizer", lambda p: shutil.copytree(tokenizer_dir, p, dirs_exist_ok=True))
    else:
        write_folder_atomically(output_dir / "tokenizer", lambda p: save_tokenizer(tokenizer, p))


# Options a resumed run must share with the run it continues.
TRAJECTORY_KEYS = ("arch", "init", "preset", "learning_rate", "warmup_steps", "batch_size", "num_train_epochs", "max_steps",
                   "max_source_length", "max_target_length", "max_grad_norm", "weight_decay", "max_train_samples", "seed",
                   "mixed_precision", "source_lang", "target_lang")


def _check_options(config: Seq2SeqConfig) -> None:
    check_training_arguments(config)  # the ranges every training command shares (a negative clip norm, say)
    require_counts(config, "num_train_epochs", "max_source_length", "max_target_length", "num_beams", "eval_steps",
                   "max_train_samples", "max_eval_samples", "max_test_samples")
    if config.source_lang == config.target_lang:
        raise GenptError(f"--source_lang and --target_lang are both {config.source_lang!r}; expected two languages")
