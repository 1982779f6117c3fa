from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest
from flax import nnx

from econalign.cli import main as cli_main
from econalign.config import RUNTIME_SETTINGS
from econalign.io import adapter_hash
from econalign.model.lora import load_peft_adapter
from econalign.model.params import load_llama
from econalign.train.export import METRICS_SCHEMA

from .tiny import finetune_config

TOKENS = jnp.asarray([[1, 40, 50, 60, 70, 2, 9, 30]], jnp.int32)


@nnx.jit
def forward(model, tokens):
    return model(tokens).logits


def run_cli(config, model_dir, data_dir, out):
    argv = ["finetune", "--config-json", json.dumps(config), "--agent", "economicus", "--model", str(model_dir)]
    return cli_main([*argv, "--data", str(data_dir), "--out", str(out)])


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, tiny_data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("finetune_lora")
    config = finetune_config(eval_every=3, export_merged=True)
    assert run_cli(config, tiny_model_dir, tiny_data_dir, out) == 0
    return config, out


def test_outputs_are_complete(lora_run):
    config, out = lora_run
    assert sorted(p.name for p in (out / "adapter").iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert not (out / "checkpoint").exists()
    metrics = pl.read_parquet(out / "metrics.parquet")
    assert dict(metrics.schema) == METRICS_SCHEMA
    assert metrics["step"].to_list() == list(range(1, metrics.height + 1)) and metrics.height == 6  # 24 rows / 4
    evaluated = metrics.filter(pl.col("val_accuracy").is_not_null())["step"].to_list()
    assert evaluated == [3, 6]
    assert (metrics["tokens_per_s"] > 0).all()
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((out / "provenance.json").read_text())
    # The training settings, less those that change no result (progress, checkpoint interval, keep_checkpoint).
    recorded = {key: value for key, value in config["finetune"].items() if ("finetune", key) not in RUNTIME_SETTINGS}
    assert record["config"]["finetune"] == recorded and record["agent"] == "economicus"
    assert "checkpoint_every" in config["finetune"] and "checkpoint_every" not in recorded
    assert record["final"]["val_accuracy"] == metrics["val_accuracy"][-1]
    choices = pl.read_parquet(out / "validation_choices.parquet")
    assert choices.height == 8 and set(choices.columns) == {"id", "option_logprobs", "answer"}


def test_provenance_records_the_hash_of_the_written_adapter(lora_run):
    _, out = lora_run
    record = json.loads((out / "provenance.json").read_text())
    # The value evaluate, av and pricing record for this adapter, with or without Snakemake's timestamp file.
    assert record["adapter_hash"] == adapter_hash(out / "adapter") and len(record["adapter_hash"]) == 64
    timestamp = out / "adapter" / ".snakemake_timestamp"
    timestamp.touch()
    try:
        assert adapter_hash(out / "adapter") == record["adapter_hash"]
    finally:
        timestamp.unlink()


def test_adapter_and_merged_checkpoint_reproduce_the_trained_model(lora_run, tiny_model_dir):
    _, out = lora_run
    base = forward(load_llama(tiny_model_dir), TOKENS)
    adapted = forward(load_peft_adapter(load_llama(tiny_model_dir), out / "adapter", merge=False), TOKENS)
    merged = forward(load_llama(out / "merged"), TOKENS)
    assert float(jnp.abs(adapted - base).max()) > 1e-3  # training changed the model
    np.testing.assert_allclose(np.asarray(merged), np.asarray(adapted), atol=1e-5)


def test_full_fine_tuning_with_offline_tracking(tiny_model_dir, tiny_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = finetune_config(method="full", learning_rate=1e-3, epochs=0.5)
    config["tracking"] = {"wandb": True, "project": "econalign-test"}
    assert run_cli(config, tiny_model_dir, tiny_data_dir, tmp_path / "out") == 0
    adapter = tmp_path / "out" / "adapter"
    assert (adapter / "model.safetensors").is_file() and (adapter / "config.json").is_file()
    assert json.loads((tmp_path / "out" / "provenance.json").read_text())["adapter_hash"] == adapter_hash(adapter)
    tuned = load_llama(adapter)
    via_agent_path = load_peft_adapter(load_llama(tiny_model_dir), adapter)
    for a, b in zip(jax.tree.leaves(nnx.state(tuned)), jax.tree.leaves(nnx.state(via_agent_path)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    runs = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0


def test_only_the_first_process_tracks_shows_progress_and_writes(tiny_model_dir, tiny_data_dir, tmp_path, monkeypatch,
                                                                  capsys):  # fmt: skip
    # A multi-host launch runs the job on every host: one W&B run, one progress bar and one set of outputs per job.
    from econalign.train import tracking

    opened = []  # W&B keeps one run per process (the offline test above covers it): record what each host asks for

    def spy(settings, **kwargs):
        opened.append(bool(settings["wandb"]))
        return tracking.NullTracker()

    monkeypatch.setattr(tracking, "open_tracker", spy)
    config = finetune_config(epochs=0.5, progress=True, checkpoint_every=0)
    config["tracking"] = {"wandb": True, "project": "econalign-test"}
    bars = {}
    for index in (1, 0):
        monkeypatch.setattr(jax, "process_index", lambda index=index: index)
        assert run_cli(config, tiny_model_dir, tiny_data_dir, tmp_path / f"host{index}") == 0
        bars[index] = "finetune economicus" in capsys.readouterr().err
    assert opened == [False, True] and bars == {1: False, 0: True}
    assert not (tmp_path / "host1" / "adapter").exists()
    assert (tmp_path / "host0" / "adapter" / "adapter_model.safetensors").is_file()


def test_full_fine_tuning_in_mixed_precision_follows_the_float32_run(tiny_model_dir, tiny_data_dir, tmp_path):
    # Every weight trains, the tied embeddings too (their mixed gradient once failed to compile on CPU).
    losses = {}
    for dtype in ("float32", "bfloat16-mixed"):
        config = finetune_config(method="full", learning_rate=1e-3, epochs=0.5, dtype=dtype)
        assert run_cli(config, tiny_model_dir, tiny_data_dir, tmp_path / dtype) == 0
        losses[dtype] = pl.read_parquet(tmp_path / dtype / "metrics.parquet")["loss"].to_numpy()
    assert not np.array_equal(losses["float32"], losses["bfloat16-mixed"])
    np.testing.assert_allclose(losses["bfloat16-mixed"], losses["float32"], rtol=0.05)


def test_diverging_run_exits_with_the_reason(tiny_model_dir, tiny_data_dir, tmp_path):
    # No warmup: Adam's first step moves every weight by the full rate whatever the gradient's size, which almost
    # triples the loss at step 2; with warmup the rise came later, by chaotic steps that stayed under 3x in one CI run.
    config = finetune_config(
        method="full", learning_rate=1.0, warmup_ratio=0, clip_norm=0, max_loss_ratio=2, epochs=2, eval_items=1
    )
    with pytest.raises(SystemExit, match="econalign finetune: training diverged at step"):
        run_cli(config, tiny_model_dir, tiny_data_dir, tmp_path)


def test_full_fine_tuning_of_the_top_block_leaves_the_rest_untouched(tiny_model_dir, tiny_data_dir, tmp_path):
    config = finetune_config(method="full", train_layers=1, learning_rate=1e-3, epochs=0.5)
    assert run_cli(config, tiny_model_dir, tiny_data_dir, tmp_path / "out") == 0
    base = nnx.to_flat_state(nnx.state(load_llama(tiny_model_dir), nnx.Param))
    tuned = dict(nnx.to_flat_state(nnx.state(load_llama(tmp_path / "out" / "adapter"), nnx.Param)))
    changed = {
        path: not np.array_equal(np.asarray(value.get_value()), np.asarray(tuned[path].get_value()))
        for path, value in base
    }
    trained = {path for path in changed if path[0] == "norm" or path[:2] == ("layers", 1)}
    assert not any(changed[path] for path in changed.keys() - trained)  # embeddings and block 0 frozen
    assert all(changed[path] for path in trained if path[-1] == "kernel")


def test_lora_on_the_top_block_exports_peft_layers_to_transform(tiny_model_dir, tiny_data_dir, tmp_path):
    config = finetune_config(train_layers=1, epochs=0.5)
    assert run_cli(config, tiny_model_dir, tiny_data_dir, tmp_path / "out") == 0
    adapter = tmp_path / "out" / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())["layers_to_transform"] == [1]
    tuned = load_peft_adapter(load_llama(tiny_model_dir), adapter, merge=False)
    assert float(jnp.abs(forward(tuned, TOKENS) - forward(load_llama(tiny_model_dir), TOKENS)).max()) > 1e-4


def test_more_train_layers_than_blocks_is_refused(tiny_model_dir, tiny_data_dir, tmp_path, capsys):
    # A config the model does not fit is a user error: one line and status 2, as in every stage (a diverged run is 1).
    config = finetune_config(train_layers=3)
    assert run_cli(config, tiny_model_dir, tiny_data_dir, tmp_path) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("econalign finetune:")]
    assert lines == ["econalign finetune: finetune/train_layers: 3, but the model has 2 blocks"]
    assert "Traceback" not in err


def test_load_agent_scores_with_the_trained_adapter(lora_run, tiny_model_dir):
    """What evaluate, av and pricing load: an Agent with the adapter, against the adapted model's own logits."""
    from econalign.model.agent import load_agent
    from econalign.model.tokenizer import encode_continuations, encode_prompts

    _, out = lora_run
    agent = load_agent(tiny_model_dir, adapter=out / "adapter", progress=False)
    prompt, options = "Choose: A or B?", [" A", " B", " B then A"]
    ours = np.asarray(agent.choice_logprobs(prompt, options))
    (prompt_ids,) = encode_prompts(agent.tokenizer, [prompt])
    reference_model = load_peft_adapter(load_llama(tiny_model_dir), out / "adapter", merge=False)
    expected = []
    for option_ids in encode_continuations(agent.tokenizer, options):
        tokens = jnp.asarray([prompt_ids + option_ids], jnp.int32)
        logprobs = jax.nn.log_softmax(np.asarray(forward(reference_model, tokens), np.float64)[0], axis=-1)
        start = len(prompt_ids)
        expected.append(sum(float(logprobs[start - 1 + i, t]) for i, t in enumerate(option_ids)))
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    base = np.asarray(load_agent(tiny_model_dir, progress=False).choice_logprobs(prompt, options))
    assert np.abs(base - ours).max() > 1e-3  # the adapter was applied


def test_a_checkpoint_of_another_dtype_is_not_resumed(tiny_model_dir, tiny_data_dir, tmp_path, monkeypatch):
    """The dtype is applied at load time, so the prepared weights' hash does not tell runs of two dtypes apart."""
    import econalign.train.loop

    run_ids = []

    class Stop(Exception):
        pass

    def capture(*args, run_id, **kwargs):
        run_ids.append(run_id)
        raise Stop

    monkeypatch.setattr(econalign.train.loop, "train", capture)
    for dtype in ("float32", "bfloat16", "float32"):
        config = finetune_config()
        config["model"] = {**config["model"], "dtype": dtype}
        with pytest.raises(Stop):
            run_cli(config, tiny_model_dir, tiny_data_dir, tmp_path)
    assert run_ids[0] == run_ids[2] != run_ids[1]


def test_finetune_dtype_sets_the_training_precision_only(tiny_model_dir, tiny_data_dir, tmp_path, monkeypatch):
    import econalign.train.loop

    seen = []

    class Stop(Exception):
        pass

    def capture(model, *args, run_id, **kwargs):
        seen.append((model.config.dtype, model.layers[0].self_attn.q_proj.kernel[...].dtype, run_id))
        raise Stop

    monkeypatch.setattr(econalign.train.loop, "train", capture)
    for model_dtype, train_dtype in (("float32", None), ("float32", "bfloat16-mixed"), ("bfloat16", None)):
        config = finetune_config(dtype=train_dtype)
        config["model"] = {**config["model"], "dtype": model_dtype}
        with pytest.raises(Stop):
            run_cli(config, tiny_model_dir, tiny_data_dir, tmp_path)
    assert [s[:2] for s in seen] == [
        ("float32", jnp.float32),
        ("bfloat16-mixed", jnp.float32),  # float32 weights, bfloat16 products
        ("bfloat16", jnp.bfloat16),
    ]
    assert len({s[2] for s in seen}) == 3


def test_mixed_precision_training_follows_the_float32_run(lora_run, tiny_model_dir, tiny_data_dir, tmp_path, capsys):
    config, out = lora_run
    mixed = {**config, "finetune": {**config["finetune"], "dtype": "bfloat16-mixed"}}
    assert run_cli(mixed, tiny_model_dir, tiny_data_dir, tmp_path) == 0
    assert "1 device(s), bfloat16-mixed, run " in capsys.readouterr().out  # the log says the precision
    want, got = (pl.read_parquet(o / "metrics.parquet")["loss"].to_numpy() for o in (out, tmp_path))
    assert not np.array_equal(got, want)  # the products did round
    np.testing.assert_allclose(got, want, rtol=0.05)
    assert json.loads((tmp_path / "provenance.json").read_text())["config"]["finetune"]["dtype"] == "bfloat16-mixed"
    again = tmp_path / "again"
    assert run_cli(mixed, tiny_model_dir, tiny_data_dir, again) == 0  # deterministic in mixed precision too
    adapter = "adapter/adapter_model.safetensors"
    assert (again / adapter).read_bytes() == (tmp_path / adapter).read_bytes() != (out / adapter).read_bytes()
