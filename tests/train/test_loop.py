from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from econalign.model.lora import save_peft_adapter
from econalign.train.checkpoint import read_metadata
from econalign.train.loop import TrainingDivergedError, make_plan, train

from .tiny import finetune_config, synthetic_examples, tiny_model


class Killed(Exception):
    pass


def run(tmp_path: Path, *, kill_after: int | None = None, checkpoint: bool = True, **overrides):
    settings = finetune_config(epochs=2, **overrides)["finetune"]

    def on_step(row):
        if kill_after is not None and row["step"] == kill_after:
            raise Killed

    return train(
        tiny_model(),
        synthetic_examples(20, seed=0),
        None,
        finetune=settings,
        seed=11,
        checkpoint_dir=tmp_path / "checkpoint" if checkpoint else None,
        run_id="test",
        on_step=on_step,
    )


def adapter_bytes(model, directory: Path) -> bytes:
    save_peft_adapter(model, directory)
    return (directory / "adapter_model.safetensors").read_bytes()


def test_plan_covers_each_epoch_once():
    examples = synthetic_examples(20, seed=0)
    settings = finetune_config(epochs=2, batch_size=4, grad_accum=2)["finetune"]
    plan = make_plan(examples, finetune=settings, seed=3)
    assert plan.rows == 2 and len(plan.steps) == 10
    first_epoch = [i for step in plan.steps[:5] for micro in step for i in micro]
    assert sorted(first_epoch) == list(range(20))
    assert plan.epochs[4] == pytest.approx(1.0) and plan.epochs[-1] == pytest.approx(2.0)
    assert make_plan(examples, finetune=settings, seed=3) == plan
    assert make_plan(examples, finetune=settings, seed=4).steps != plan.steps


def test_every_planned_batch_fits_its_bucket_answer_slots():
    # Leftovers of two buckets share a batch: short prompts with long answers beside long prompts with short ones.
    from econalign.train.data import Example, make_batch

    def example(length, answer):
        return Example(tokens=np.ones(length, np.int32), prompt_length=length - answer, weights=np.ones(answer))

    examples = [example(100, 5)] * 3 + [example(40, 30)] * 3
    settings = finetune_config(epochs=1, batch_size=4, grad_accum=1, max_buckets=2)["finetune"]
    plan = make_plan(examples, finetune=settings, seed=0)
    assert len(plan.buckets) == 2
    mixed = 0
    for step in plan.steps:
        for micro in step:
            members = [examples[i] for i in micro]
            bucket = min(b for b in plan.buckets if b >= max(e.length for e in members))
            mixed += len({e.length for e in members}) > 1
            batch = make_batch(members, rows=plan.rows, length=bucket, slots=plan.slots[bucket])
            assert batch["weights"].sum() == sum(e.weights.sum() for e in members)
    assert mixed  # the case that used to raise: a 30-token answer in the slots of the long prompts' bucket


@pytest.mark.slow
def test_runs_are_identical_and_resume_matches_an_uninterrupted_run(tmp_path):
    first = run(tmp_path / "a")
    second = run(tmp_path / "b")
    assert adapter_bytes(first.model, tmp_path / "a" / "adapter") == adapter_bytes(second.model, tmp_path / "b" / "x")
    losses = [row["loss"] for row in first.metrics]
    assert len(losses) == 10 and losses[-1] < losses[0]
    with pytest.raises(Killed):
        run(tmp_path / "c", kill_after=5)
    assert read_metadata(tmp_path / "c" / "checkpoint")["step"] == 4
    resumed = run(tmp_path / "c")
    assert resumed.resumed_from == 4
    assert [row["loss"] for row in resumed.metrics] == losses
    assert adapter_bytes(resumed.model, tmp_path / "c" / "adapter") == adapter_bytes(first.model, tmp_path / "a" / "y")


def test_checkpoint_of_another_run_is_not_resumed(tmp_path):
    with pytest.raises(Killed):
        run(tmp_path, kill_after=3)
    fresh = train(
        tiny_model(),
        synthetic_examples(20, seed=0),
        None,
        finetune=finetune_config(epochs=2)["finetune"],
        seed=11,
        checkpoint_dir=tmp_path / "checkpoint",
        run_id="another config",
    )
    assert fresh.resumed_from == 0


def test_exploding_loss_stops_with_a_clear_message(tmp_path):
    with pytest.raises(TrainingDivergedError, match=r"diverged at step \d+.*learning_rate"):
        run(tmp_path, checkpoint=False, method="full", learning_rate=1.0, clip_norm=0, max_loss_ratio=3)


def test_nan_loss_stops_at_the_first_step():
    model = tiny_model()
    model.embed_tokens.embedding[...] = model.embed_tokens.embedding[...].at[5].set(np.nan)
    examples = synthetic_examples(8, seed=0, token=5)
    with pytest.raises(TrainingDivergedError, match="at step 1: loss nan"):
        train(model, examples, None, finetune=finetune_config()["finetune"], seed=0)


SHARDED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {root!r})
    from tests.train.tiny import finetune_config, synthetic_examples, tiny_model
    from econalign.train.loop import train
    import jax
    assert jax.device_count() == 4
    out = {{}}
    runs = [("lora", 1, 1), ("lora", 2, 2), ("full", 1, 1), ("full", 1, 4), ("full mixed", 1, 1), ("full mixed", 1, 4)]
    for method, data, fsdp in runs:
        mesh = {{"data": data, "fsdp": fsdp}}
        settings = finetune_config(batch_size=8, epochs=1, method=method.split()[0], mesh=mesh)
        model = tiny_model(dtype="bfloat16-mixed" if "mixed" in method else "float32")
        result = train(model, synthetic_examples(24, seed=0), None, finetune=settings["finetune"], seed=5)
        out[f"{{method}} {{data}}x{{fsdp}}"] = [row["loss"] for row in result.metrics]
    try:  # 6 rows over the 4 devices a -1 mesh takes: refused before the first step, naming the keys
        settings = finetune_config(batch_size=6, epochs=1, mesh={{"data": -1, "fsdp": 1}})
        train(tiny_model(), synthetic_examples(24, seed=0), None, finetune=settings["finetune"], seed=5)
    except Exception as error:
        out["indivisible"] = f"{{type(error).__name__}}: {{error}}"
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_sharded_runs_match_the_single_device_run(repo_root):
    # Data parallel and FSDP over 4 forced host devices: LoRA on a 2x2 mesh, full fine-tuning on 1x4 (both precisions).
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    script = SHARDED_SCRIPT.format(root=str(repo_root))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    losses = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(losses["lora 1x1"]) == 3
    np.testing.assert_allclose(losses["lora 2x2"], losses["lora 1x1"], rtol=2e-5)
    np.testing.assert_allclose(losses["full 1x4"], losses["full 1x1"], rtol=2e-5)
    assert losses["full 1x1"] != losses["lora 1x1"]
    # Mixed precision shards the same way (every weight's bfloat16 gradient product, the tied embeddings' included).
    np.testing.assert_allclose(losses["full mixed 1x4"], losses["full mixed 1x1"], rtol=2e-5)
    assert losses["full mixed 1x1"] != losses["full 1x1"]
    np.testing.assert_allclose(losses["full mixed 1x1"], losses["full 1x1"], rtol=1e-3)
    assert losses["indivisible"] == (
        "ConfigError: finetune/mesh: its 4 devices do not split a microbatch of 6 rows "
        "(finetune/batch_size / finetune/grad_accum)"
    )


@pytest.mark.parametrize(("batch_size", "grad_accum", "epochs"), [(4, 2, 1), (4, 2, 2), (8, 4, 1), (4, 1, 1)])
def test_accumulated_steps_take_each_epoch_once_even_when_it_does_not_fill_the_last_step(
    batch_size, grad_accum, epochs
):
    # 10 examples in microbatches of batch_size / grad_accum rows: an epoch's last step may hold fewer microbatches.
    examples = synthetic_examples(10, seed=0)
    settings = finetune_config(epochs=epochs, batch_size=batch_size, grad_accum=grad_accum)["finetune"]
    plan = make_plan(examples, finetune=settings, seed=3)
    seen = [i for step in plan.steps for micro in step for i in micro]
    assert sorted(seen) == sorted(list(range(10)) * epochs)
    assert all(0 < len(step) <= grad_accum for step in plan.steps)
    assert plan.epochs[-1] == pytest.approx(epochs)


def test_fractional_epochs_count_microbatches_exactly():
    examples = synthetic_examples(100, seed=0)
    plan = make_plan(examples, finetune=finetune_config(epochs=1.1, batch_size=1, grad_accum=1)["finetune"], seed=0)
    assert len(plan.steps) == 110  # 1.1 * 100 is 110.00000000000001 in floating point
