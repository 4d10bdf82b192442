"""Short real runs of recipes/train_docs.py: resume, two-process data parallel, update skipping, config errors.

The corpus is CPython's documentation (the `pydoc` reader: real text, no download), prepared
once per session; the model is tiny. Recipe runs are subprocesses, as a user would start them.
"""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
import yaml
from huggingface_hub import ModelCard

from conftest import REPO_ROOT, TINY_ENCODER
from doc_hvae import DocHVAE
from doc_hvae.config_loading import load_config
from doc_hvae.data.batching import DocCollator, TokenBudgetBatchSampler
from doc_hvae.data.prepare import PrepareConfig, PreparedCorpus, prepare_corpus
from doc_hvae.document_prior import FILE
from doc_hvae.modeling.loading import load_model
from doc_hvae.trainer import training_step
from doc_hvae.training import TrainConfig, TrainerState, build_model, build_optimizer, build_scheduler, read_log

TINY_MODEL = {
    "levels": ["document", "paragraph", "sentence"],
    "latent_size": 8,
    "decoder": {"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2, "n_positions": 512},
    "encoder": TINY_ENCODER,
}


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    output = tmp_path_factory.mktemp("corpus")
    config = PrepareConfig(
        source={"reader": "pydoc", "max_documents": 20, "split_fractions": {"validation": 0.2, "test": 0.1}},
        tokenizer={"vocab_size": 500},
        limits={
            "max_sentence_tokens": 32,
            "max_paragraph_sentences": 8,
            "max_paragraph_tokens": 128,
            "max_window_paragraphs": 4,
            "max_window_tokens": 256,
        },
        output_dir=str(output),
    )
    prepare_corpus(config, show_progress=False)
    return output


def write_config(tmp_path, prepared, **sections) -> str:
    config = {
        "data": {"prepared_dir": str(prepared), "max_tokens": 512, "max_validation_documents": 8},
        "model": {"config": TINY_MODEL},
        "objective": {"beta": {"kind": "linear", "warmup_steps": 4}, "free_bits": {"mode": "dimension", "nats": 0.05}},
        "optim": {"lr": 1e-3, "warmup_steps": 2},
        "training": {
            "output_dir": str(tmp_path / "run"),
            "max_steps": 6,
            "log_every": 1,
            "eval_every": 3,
            "save_every": 3,
            "keep_last": 5,
            "num_samples": 1,
            "sample_max_tokens": 16,
            "tensorboard": False,
        },
    }
    for section, values in sections.items():
        config[section].update(values)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def run_recipe(args, env=None, launcher=None, timeout=300) -> subprocess.CompletedProcess:
    command = (launcher or [sys.executable]) + [str(REPO_ROOT / "recipes" / "train_docs.py"), *args]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment, cwd=REPO_ROOT)


def training_losses(output_dir) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_log(os.path.join(output_dir, "log.jsonl")) if "loss" in r}


AUTO_MODEL_WITHOUT_IMPORT = """
import sys
from transformers import AutoModel
try:
    AutoModel.from_pretrained(sys.argv[1])
except ValueError as error:
    print("refused:", "trust_remote_code" if "trust_remote_code=True" in str(error) else error)
print("loaded:", type(AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True)).__name__)
assert "doc_hvae" in sys.modules  # the folder's module took the classes from the installed package
"""


@pytest.mark.slow
def test_resume_continues_exactly_across_an_epoch_boundary(tmp_path, prepared):
    # A budget that makes an epoch a handful of batches; the run goes 2 steps into the next epoch.
    train = PreparedCorpus(prepared).dataset["train"]
    budget = sum(train["num_tokens"]) // 4
    per_epoch = len(TokenBudgetBatchSampler(train["num_tokens"], budget, shuffle=True, seed=0))
    steps, interrupted_at = per_epoch + 2, per_epoch - 1
    config = write_config(
        tmp_path, prepared, data={"max_tokens": budget}, training={"max_steps": steps, "save_every": interrupted_at}
    )
    full = run_recipe(["--config", config])
    assert full.returncode == 0, full.stderr[-3000:]
    uninterrupted = training_losses(tmp_path / "run")
    assert sorted(uninterrupted) == list(range(1, steps + 1))
    checkpoint = tmp_path / "run" / "checkpoints" / f"step_{interrupted_at:08d}"
    assert json.loads((checkpoint / "trainer_state.json").read_text())["step"] == interrupted_at

    # A run interrupted there restarts from that checkpoint (into another folder), through the epoch's end.
    # (The corpus given by a path relative to the working directory, as users do.)
    relative = os.path.relpath(prepared, REPO_ROOT)
    # And with gradient checkpointing on: the recomputed blocks give the same losses.
    resumed = run_recipe(
        [
            "--config",
            config,
            "--resume",
            str(checkpoint),
            f"training.output_dir={tmp_path / 'resumed'}",
            f"data.prepared_dir={relative}",
            "training.gradient_checkpointing=true",
            "sampling.guidance={document: 2.0}",
            "sampling.document_prior=fitted",
        ]
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resumed from" in resumed.stdout and "gradient checkpointing." in resumed.stdout
    # Each run ends with PNG curves of its log beside the export, named in the summary.
    for run in (full, resumed):
        (curves,) = [
            line.split("curves", 1)[1].strip() for line in run.stdout.splitlines() if line.strip().startswith("curves ")
        ]
        assert curves.startswith(str(tmp_path / ("run" if run is full else "resumed") / "curves")), curves
    for name in ("loss.png", "kl_per_level.png", "gates.png"):
        for run in ("run", "resumed"):
            assert (tmp_path / run / "curves" / name).stat().st_size > 1000, (run, name)
    assert "loss.png, kl_per_level.png" in full.stdout and "TensorBoard is not installed" not in full.stdout
    assert "gradient checkpointing." not in full.stdout
    continued = training_losses(tmp_path / "resumed")
    assert sorted(continued) == list(range(interrupted_at + 1, steps + 1))
    epochs = {r["step"]: r["epoch"] for r in read_log(tmp_path / "resumed" / "log.jsonl") if "epoch" in r}
    assert epochs[steps] == 1 and epochs[interrupted_at + 1] == 0  # the comparison spans the boundary
    for step in continued:
        assert continued[step] == pytest.approx(uninterrupted[step], abs=1e-6), step

    # The log says how far each level's gates have opened: at the end, the exported model's mean |gate| per level.
    final = tmp_path / "resumed" / "final"
    last = [r for r in read_log(tmp_path / "resumed" / "log.jsonl") if "loss" in r][-1]
    gates = DocHVAE.from_pretrained(final).decoder.layers.gates.detach().abs().mean(dim=0)
    for index, level in enumerate(TINY_MODEL["levels"]):
        assert last[f"gate/{level}"] == pytest.approx(float(gates[index]), rel=1e-5, abs=1e-9), level
    assert max(last[f"gate/{level}"] for level in TINY_MODEL["levels"]) > 0  # they moved off zero

    # The export is a loadable model with its tokenizer, config, model card and fitted document prior,
    # which the end-of-training samples drew their z_doc from (the recommended sampling says so).
    for name in ("model.safetensors", "config.json", "tokenizer.json", "train_config.yaml", "README.md", FILE):
        assert (final / name).is_file(), name
    assert (tmp_path / "run" / "final" / FILE).is_file()
    (summary_prior,) = [line for line in resumed.stdout.splitlines() if line.strip().startswith("document prior ")]
    components = load_model(final).fitted_document_prior.num_components
    assert f"fitted document prior: {components} components" in summary_prior, summary_prior
    assert "Final validation metrics" in (final / "README.md").read_text()
    # The config's recommended sampling (here: latent guidance, also used for the end-of-training samples) is on the card.
    recommended = (final / "README.md").read_text().split("## Recommended sampling")[1].split("##")[0]
    assert "guidance:\n  document: 2.0" in recommended and "top_p: 0.95" in recommended
    assert "document_prior: fitted" in recommended and f"`{FILE}` is a Gaussian mixture" in recommended
    card = ModelCard.load(final / "README.md")
    assert card.data.library_name == "doc_hvae" and card.data.license == "apache-2.0"
    perplexity = next(r for r in card.data.eval_results if r.metric_type == "perplexity")
    final_ppl = next(
        r["val/ppl_elbo"] for r in reversed(read_log(tmp_path / "resumed" / "log.jsonl")) if "val/ppl_elbo" in r
    )
    assert perplexity.dataset_split == "validation" and perplexity.metric_value > 1
    assert (
        abs(perplexity.metric_value - final_ppl) / final_ppl < 0.2
    )  # the export's evaluation, near the last validation
    # The export stands alone: its corpus path is absolute, so it loads from any working directory.
    assert yaml.safe_load((final / "train_config.yaml").read_text())["data"]["prepared_dir"] == str(prepared.resolve())
    # AutoModel, in a process that never imports doc_hvae: refused with the way out, then loaded with it.
    auto = subprocess.run(
        [sys.executable, "-c", AUTO_MODEL_WITHOUT_IMPORT, str(final)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdin=subprocess.DEVNULL,
    )
    assert auto.returncode == 0, auto.stderr[-3000:]
    assert "refused: trust_remote_code" in auto.stdout and "loaded: DocHVAE" in auto.stdout, auto.stdout

    # Starting afresh over the first run's checkpoints is refused (it would mix or prune them).
    again = run_recipe(["--config", config])
    assert again.returncode != 0 and "holds checkpoints of an earlier run" in again.stderr


@pytest.mark.slow
def test_two_process_data_parallel_on_cpu(tmp_path, prepared):
    config = write_config(tmp_path, prepared, training={"max_steps": 4, "save_every": 2})
    launcher = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ]
    result = run_recipe(["--config", config], env={"ACCELERATE_USE_CPU": "1"}, launcher=launcher, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "2 process(es)" in result.stdout
    # Both ranks report their parameter checksum; they must be identical.
    line = next(text for text in result.stdout.splitlines() if "parameter checksum per process" in text)
    checksums = line.split("process")[-1].split(",")
    assert len(checksums) == 2 and checksums[0].strip() == checksums[1].strip()
    # Only the main process wrote logs and the model: one record per step, one set of files.
    steps = [r["step"] for r in read_log(tmp_path / "run" / "log.jsonl") if "loss" in r]
    assert steps == sorted(set(steps)) == [1, 2, 3, 4]
    checkpoint = tmp_path / "run" / "checkpoints" / "step_00000004"
    assert len(list(checkpoint.glob("model*.safetensors"))) == 1
    # The export: the model, and the document prior the main process fitted.
    assert sorted(path.name for path in (tmp_path / "run" / "final").glob("*.safetensors")) == [
        FILE,
        "model.safetensors",
    ]
    assert (tmp_path / "run" / "curves" / "loss.png").stat().st_size > 1000 and "Could not plot" not in result.stderr


@pytest.mark.slow
def test_consecutive_skips_stop_with_a_checkpoint(tmp_path, prepared):
    # Every gradient norm exceeds the threshold, so every update is skipped.
    config = write_config(tmp_path, prepared, optim={"skip_grad_norm": 1e-12}, training={"max_consecutive_skips": 2})
    result = run_recipe(["--config", config])
    assert result.returncode != 0
    assert "2 updates in a row were skipped" in result.stderr + result.stdout
    folder = tmp_path / "run" / "checkpoints" / "step_00000002"
    assert json.loads((folder / "trainer_state.json").read_text())["skipped_updates"] == 2


def test_config_errors_are_reported_together(tmp_path, prepared):
    config = write_config(tmp_path, prepared)
    result = run_recipe(
        ["--config", config, "optim.lrr=1e-3", "training.max_steps=many", "model.config.levelz=[sentence]"]
    )
    assert result.returncode != 0
    message = result.stderr
    assert "3 problem(s)" in message
    assert "optim.lrr" in message and "did you mean 'lr'" in message
    assert "training.max_steps" in message and "'many'" in message
    assert "levelz" in message


def test_launch_with_missing_processes_is_refused(tmp_path, prepared):
    # WORLD_SIZE says 2, but this is a single plain process: the two would clobber each other.
    config = write_config(tmp_path, prepared)
    result = run_recipe(["--config", config], env={"WORLD_SIZE": "2"})
    assert result.returncode != 0
    assert "2 processes were launched but Accelerate runs 1" in result.stderr
    assert "ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2" in result.stderr


def test_non_finite_loss_skips_the_update(tmp_path, prepared):
    from accelerate import Accelerator

    config = load_config(TrainConfig, write_config(tmp_path, prepared))
    corpus = PreparedCorpus(prepared)
    model = build_model(config.model, corpus.tokenizer)
    optimizer = build_optimizer(model, config.optim)
    scheduler = build_scheduler(optimizer, config.optim, 10)
    accelerator = Accelerator(cpu=True)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    batch = DocCollator.for_model(model.config)([corpus.dataset["train"][i] for i in range(2)])
    state = TrainerState()

    # A batch whose first token has an infinite embedding makes the loss non-finite.
    poisoned_token = int(batch.decoder_labels[batch.decoder_labels >= 0][0])
    with torch.no_grad():
        model.decoder.lm.get_input_embeddings().weight[poisoned_token] = float("inf")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    logs, updated = training_step(
        model, batch, optimizer, scheduler, accelerator, config, state, list(model.config.levels)
    )
    assert updated is False
    assert state.skipped_updates == 1 and state.consecutive_skips == 1 and state.step == 1
    assert not torch.isfinite(logs["loss"])
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name

    # With the embedding repaired, the next update is applied and the skip streak resets.
    with torch.no_grad():
        model.decoder.lm.get_input_embeddings().weight[poisoned_token] = 0.0
    _, updated = training_step(
        model, batch, optimizer, scheduler, accelerator, config, state, list(model.config.levels)
    )
    assert updated is True and state.consecutive_skips == 0 and state.skipped_updates == 1
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if torch.isfinite(before[n]).all())


def test_positions_are_checked_against_the_corpus_limits():
    from doc_hvae.config import DocHVAEConfig, default_decoder_config, default_encoder_config
    from doc_hvae.training import check_positions

    config = DocHVAEConfig(
        levels=["sentence"],
        vocab_size=100,
        latent_size=4,
        decoder_context="paragraph",
        decoder={**default_decoder_config(100, 32, 1, 2), "n_positions": 64},
        encoder={**default_encoder_config(100, 32, 1, 2), "max_position_embeddings": 32},
    )
    check_positions(
        config, {"max_sentence_tokens": 30, "max_paragraph_tokens": 63}
    )  # streams of 32 and 64 positions: they fit
    with pytest.raises(ValueError, match="limits.max_sentence_tokens"):
        check_positions(config, {"max_sentence_tokens": 31, "max_paragraph_tokens": 60})
    with pytest.raises(ValueError, match="limits.max_paragraph_tokens"):
        check_positions(config, {"max_sentence_tokens": 30, "max_paragraph_tokens": 64})


def test_model_section_reports_model_config_errors_with_the_others(tmp_path, prepared):
    config = write_config(tmp_path, prepared)
    with pytest.raises(Exception) as error:
        load_config(TrainConfig, config, ["model.config.levels=[chapter]", "optim.lr=-1"])
    message = str(error.value)
    assert "chapter" in message and "optim.lr" in message
    with pytest.raises(Exception, match="init_from"):
        load_config(TrainConfig, config, ["model.init_from=some/folder"])


@pytest.mark.slow
def test_precision_comes_from_the_launch_unless_the_yaml_sets_it(tmp_path, prepared):
    """`ACCELERATE_MIXED_PRECISION=bf16` (what `accelerate launch --mixed_precision bf16` sets) trains
    in bf16 on CPU when the YAML says nothing; a YAML setting wins over the launch. BN-VAE's
    running statistics and the final samples meet the bf16 activations of autocast."""
    config = write_config(
        tmp_path,
        prepared,
        training={"max_steps": 2, "eval_every": 2, "save_every": 2, "num_samples": 1},
        model={"config": {**TINY_MODEL, "posterior_mean_norm": {"document": 1.0, "paragraph": 0.2, "sentence": 0.1}}},
    )
    launched = run_recipe(["--config", config], env={"ACCELERATE_MIXED_PRECISION": "bf16"})
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "mixed precision bf16" in launched.stdout
    assert all(math.isfinite(loss) for loss in training_losses(tmp_path / "run").values())
    pinned = run_recipe(
        ["--config", config, "training.mixed_precision=no", f"training.output_dir={tmp_path / 'pinned'}"],
        env={"ACCELERATE_MIXED_PRECISION": "bf16"},
    )
    assert pinned.returncode == 0, pinned.stderr[-3000:]
    assert "mixed precision no" in pinned.stdout


def test_a_user_error_is_one_line_without_traceback_unless_debug(tmp_path, prepared):
    config = write_config(tmp_path, prepared)
    result = run_recipe(["--config", config, f"data.prepared_dir={tmp_path / 'nowhere'}", "data.prepare=null"])
    assert result.returncode == 2
    assert "is not a prepared corpus" in result.stderr and "Traceback" not in result.stderr
    debug = run_recipe(
        ["--config", config, f"data.prepared_dir={tmp_path / 'nowhere'}", "data.prepare=null", "--debug"]
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_push_to_hub_uploads_the_export_folder(tmp_path, monkeypatch):
    """No Hub here: the two huggingface_hub calls are recorded instead of sent."""
    import doc_hvae.export as export

    calls = []
    monkeypatch.setattr(export, "create_repo", lambda repo_id, **kwargs: calls.append(("create", repo_id, kwargs)))
    monkeypatch.setattr(export, "upload_folder", lambda **kwargs: calls.append(("upload", kwargs)))
    (tmp_path / "final").mkdir()
    url = export.push_export(tmp_path / "final", "someone/doc-hvae-test")
    assert url == "https://huggingface.co/someone/doc-hvae-test"
    assert calls[0] == ("create", "someone/doc-hvae-test", {"private": True, "exist_ok": True})
    assert calls[1][1]["repo_id"] == "someone/doc-hvae-test" and calls[1][1]["folder_path"] == str(tmp_path / "final")


def test_param_groups_and_gate_decay(tmp_path, prepared):
    config = load_config(
        TrainConfig,
        write_config(tmp_path, prepared),
        ["optim.param_groups={decoder.layers.gates: {lr_scale: 10}, decoder.layers.projections: {eps: 1.0e-4}}"],
    )
    model = build_model(config.model, PreparedCorpus(prepared).tokenizer)
    groups = build_optimizer(model, config.optim).param_groups
    gates = model.decoder.layers.gates
    (gate_group,) = [group for group in groups if any(p is gates for p in group["params"])]
    assert (
        gate_group["lr"] == 10 * config.optim.lr and gate_group["weight_decay"] == 0.0
    )  # decay would pull a gate shut
    assert len(gate_group["params"]) == 1 and gate_group["eps"] == config.optim.eps
    projections = [p for p in model.decoder.layers.projections.parameters()]
    (projection_group,) = [group for group in groups if any(p is projections[0] for p in group["params"])]
    assert (
        projection_group["eps"] == 1e-4
        and projection_group["lr"] == config.optim.lr
        and len(projection_group["params"]) == len(projections)
    )
    embeddings = model.decoder.lm.get_input_embeddings().weight
    (embedding_group,) = [group for group in groups if any(p is embeddings for p in group["params"])]
    assert embedding_group["lr"] == config.optim.lr and embedding_group["weight_decay"] == config.optim.weight_decay
    assert sum(len(group["params"]) for group in groups) == sum(1 for p in model.parameters() if p.requires_grad)
    with pytest.warns(
        UserWarning, match="no_such_parameter"
    ):  # the flat-LM variant of a config with a gates group, say
        build_optimizer(
            model,
            load_config(
                TrainConfig, write_config(tmp_path, prepared), ["optim.param_groups={no_such_parameter: {lr_scale: 2}}"]
            ).optim,
        )


def test_a_prepared_corpus_is_checked_against_data_prepare(tmp_path, prepared):
    from doc_hvae.errors import TrainingError
    from doc_hvae.trainer import check_prepared_matches
    from doc_hvae.training import DataSection

    folder = tmp_path / "corpus"
    shutil.copytree(prepared, folder)
    saved = yaml.safe_load((folder / "prepare_config.yaml").read_text())
    section = {key: value for key, value in saved.items() if key != "output_dir"}
    check_prepared_matches(DataSection(prepared_dir=str(folder), prepare=section))  # the same settings
    # A folder prepared before tokenizer.kind existed has no such key: it was a BPE, the default.
    del saved["tokenizer"]["kind"]
    (folder / "prepare_config.yaml").write_text(yaml.safe_dump(saved))
    check_prepared_matches(DataSection(prepared_dir=str(folder), prepare=section))
    for changed, key in (
        ({**section, "tokenizer": {**section["tokenizer"], "kind": "unigram"}}, "tokenizer"),
        ({**section, "limits": {**section["limits"], "max_sentence_tokens": 16}}, "limits"),
    ):
        with pytest.raises(TrainingError, match=f"other \\['{key}'\\] settings"):
            check_prepared_matches(DataSection(prepared_dir=str(folder), prepare=changed))


def test_a_missing_tensorboard_is_said_once_with_how_to_get_it(tmp_path, monkeypatch, capsys):
    from doc_hvae.trainer import build_accelerator

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` fails, as where it is not installed
    config = load_config(TrainConfig, write_config(tmp_path, tmp_path / "corpus"), ["training.tensorboard=true"])
    build_accelerator(config).end_training()
    said = capsys.readouterr().out
    assert said.count("TensorBoard is not installed") == 1 and 'pip install -e ".[tensorboard]"' in said
    assert str(tmp_path / "run" / "curves") in said  # where the curves will be instead
    build_accelerator(
        config.model_copy(update={"training": config.training.model_copy(update={"tensorboard": False})})
    ).end_training()
    assert "TensorBoard" not in capsys.readouterr().out  # asked for no TensorBoard: nothing to say


def test_a_failed_plot_is_reported_and_does_not_end_the_run(tmp_path, capsys):
    """The curves come after the export: a log they cannot read costs the plot only, said with the retry command."""
    from types import SimpleNamespace

    from doc_hvae.trainer import Trainer

    (tmp_path / "log.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": \n')  # cut off mid-record
    said = Trainer.write_curves(SimpleNamespace(output_dir=tmp_path))
    assert said.startswith("not written (JSONDecodeError")
    error = capsys.readouterr().err
    assert "Could not plot the training curves (JSONDecodeError" in error and "the model is saved" in error
    assert f"plot_training_curves('{tmp_path / 'log.jsonl'}', '{tmp_path / 'curves'}')" in error
    assert not (tmp_path / "curves").exists()
    (tmp_path / "log.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n')
    assert Trainer.write_curves(SimpleNamespace(output_dir=tmp_path)) == f"{tmp_path / 'curves'} (loss.png)"
