"""Scoring throughput: econalign's Agent (JAX/NNX) against HF transformers + torch.

Prints one JSON object and writes it to benchmarks/results/scoring.json:

* ``fixed_shapes``: ``{"16x128": {...}, "8x256": {...}}``: one jitted forward of random tokens with the LM head
  at the last position only (the work of scoring one next token): ``batch_s`` (best of ``--repeats`` after
  compilation), ``prompts_per_s``, ``compile_s`` (first call minus the best, as for the battery).
* ``battery``: ``Agent.choice_logprobs`` on the evaluation battery of the default study, the items and options
  ``econalign evaluate`` scores (``build_battery`` on ``config/config.yaml``: test splits and consistency probes;
  the datasets from ``results/synthesize`` when present, else synthesized into a temporary folder; hand-made 2x2
  prompts only if that fails). ``--limit N`` scores a seeded sample of N items instead. Options are the decision
  lines (``"Answer: A"``). ``prompts_per_s``, ``batch_s`` (the whole battery, best of ``--repeats`` after a
  warm-up call), ``compile_s`` (warm-up call minus a warm call), ``source``, ``n_prompts``, ``n_options``,
  ``prompt_tokens_mean``, ``max_abs_diff_vs_peer`` (when a peer ran).
* ``peak_rss_mb``, ``device``, ``threads``; ``machine`` (CPU, cores, Python, date: ``machine.py``).
* ``peer``: the same keys measured with HF transformers + torch (float32), run by an interpreter that has
  torch (``--peer-python PATH`` or ``ECONALIGN_PEER_PYTHON``; e.g. a venv made with
  ``python3 -m venv /tmp/torchref && /tmp/torchref/bin/pip install torch transformers safetensors numpy``).
  The script re-invokes itself there with ``--peer``; that mode imports only the standard library, torch and
  transformers. The peer scores exactly the same token ids, the standard way: one sequence per
  (prompt, option), sorted by length, batches of 16 left-padded with position ids, ``logits_to_keep`` covering
  the option tokens. Without a peer interpreter the ``peer`` key is omitted.
* ``speedup``: ours / peer prompts per second.
* ``dtype``: the precision of both sides (``--dtype``): ``float32``, or ``bfloat16-mixed`` (ours with that
  ``model.dtype``, the peer under ``torch.autocast`` in bfloat16; written to ``scoring_bfloat16-mixed.json``).

Usage: ``uv run python benchmarks/scoring.py [--model results/prepare_model/base] [--peer-python PY]``. Without
``--model`` the embedded model is prepared into a temporary folder. The machine is shared and noisy, so the two
sides take turns: after one warm-up call of every measurement on each side, every repeat runs each measurement on
ours and then on the peer's (a long-lived process answering over a pipe, idle while ours runs), and each timing is
the best of ``--repeats``. ``load_average_1min`` records the lowest and highest 1-minute load average seen between
repeats: about 2 is the benchmark alone on two cores, more means other jobs shared the machine and the ratios are
suspect.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import PRECISIONS, machine, peak_rss_mb, results_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHAPES = ((16, 128), (8, 256))
SYSTEM = (
    "You are a participant in an economic decision experiment. You will face one decision. Each option pays points "
    "as described, and your points are all that matters to you. Think about what the other participant is likely "
    "to do, then decide. Reply with a line of the form 'Answer: X', where X is the letter of your option."
)
RULES = (
    "Game rules: you and another participant choose simultaneously and cannot communicate. You will not meet again. "
    "The payoffs below are points for you and for the other participant."
)


def log(message: str) -> None:
    print(f"[scoring benchmark {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- battery items (token ids shared with the peer)


def battery_items(tokenizer, limit: int | None) -> tuple[list[list[int]], list[list[list[int]]], str]:
    """Prompt and option token ids of the battery, and where the items came from."""
    from econalign.model.tokenizer import encode_continuations, encode_prompts

    messages, options, source = _synthesized(limit)
    if not messages:
        messages, options, source = _handmade(limit)
    prompt_ids = encode_prompts(tokenizer, messages)
    option_ids = [encode_continuations(tokenizer, opts) for opts in options]
    return prompt_ids, option_ids, source


def _synthesized(limit: int | None) -> tuple[list, list, str]:
    """The evaluation battery of the default study, built as ``econalign evaluate`` builds it.

    ``config/config.yaml`` resolved, its datasets read from ``results/synthesize`` when the workflow has made them,
    else synthesized into a temporary folder; ``build_battery`` then selects the test items and adds the
    consistency probes, and the options are the decision lines ``AgentScorer`` scores. ``limit`` keeps a seeded
    sample of that many items (in battery order), so every split stays represented.
    """
    try:
        from econalign.config import load_config
        from econalign.data.templates import decision_line
        from econalign.evaluate.battery import build_battery

        config = load_config(ROOT / "config" / "config.yaml")
        data_dir = ROOT / "results" / "synthesize"
        source = "results/synthesize"
        with tempfile.TemporaryDirectory(prefix="econalign-bench-") as temporary:
            if not all((data_dir / agent["name"] / "train.parquet").is_file() for agent in config["agents"]):
                from econalign.data.synthesize import synthesize

                data_dir = Path(temporary)
                synthesize(config, data_dir)
                source = "synthesize (temporary)"
            battery, _, _ = build_battery(config, data_dir)
        source = f"evaluation battery of config/config.yaml ({source}, {battery.height} items)"
        if limit is not None and limit < battery.height:
            battery = battery.with_row_index("_order").sample(n=limit, seed=0).sort("_order")
            source += f", seeded sample of {limit}"
        messages = [json.loads(m) for m in battery["messages"]]
        options = [[decision_line(label) for label in labels] for labels in battery["labels"]]
        return messages, options, source
    except Exception as error:  # any failure falls back to hand-made prompts
        print(
            f"evaluation battery unavailable ({type(error).__name__}: {error}); using hand-made prompts",
            file=sys.stderr,
        )
        return [], [], ""


def _handmade(limit: int | None) -> tuple[list, list, str]:
    import numpy as np

    rng = np.random.default_rng(0)
    games = ["prisoner's dilemma", "stag hunt", "game of chicken", "coordination game"]
    messages, options = [], []
    for i in range(120 if limit is None else limit):
        t, r, p, s = (int(x) for x in rng.integers(0, 11, 4))
        q = int(rng.integers(1, 10))
        labels = ("A", "B") if i % 2 == 0 else ("B", "A")
        user = (
            f"{RULES}\nThis is a {games[i % len(games)]}.\n"
            f"- If both choose {labels[0]}, each gets {r} points.\n"
            f"- If both choose {labels[1]}, each gets {p} points.\n"
            f"- If you choose {labels[0]} and the other chooses {labels[1]}, you get {s} and the other gets {t}.\n"
            f"- If you choose {labels[1]} and the other chooses {labels[0]}, you get {t} and the other gets {s}.\n"
            f"The other participant chooses {labels[0]} with probability {q / 10:.1f}. Which option do you choose?"
        )
        messages.append([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}])
        options.append([f"Answer: {label}" for label in sorted(labels)])
    return messages, options, "hand-made 2x2 prompts"


# ---------------------------------------------------------------- the two sides
#
# Each side is a set of named measurements (``fixed/16x128``, ``fixed/8x256``, ``battery``): ``run(name)`` does the
# work once and returns seconds. Ours runs in this process; the peer's in a long-lived subprocess that answers one
# JSON line per request, so the two sides can take turns, measurement by measurement, on a shared machine.


def fixed_key(rows: int, length: int) -> str:
    return f"fixed/{rows}x{length}"


class Ours:
    """econalign's Agent: the fixed-shape forward (LM head at the last position) and the battery."""

    def __init__(self, model_dir: Path, limit: int | None, dtype: str = "float32"):
        import jax
        import jax.numpy as jnp
        import numpy as np
        from flax import nnx

        from econalign.evaluate.battery import SMALL_BATCHES
        from econalign.model.agent import load_agent
        from econalign.model.buckets import Buckets
        from econalign.model.scoring import score_continuations

        # The shape policy of `econalign evaluate`.
        agent = load_agent(model_dir, dtype=dtype, buckets=Buckets(small_batches=SMALL_BATCHES), progress=False)
        graphdef, state = nnx.split(agent.model)

        @jax.jit
        def last_logits(state, tokens):
            model = nnx.merge(graphdef, state)
            return model(tokens, logits_at=jnp.full((tokens.shape[0], 1), tokens.shape[1] - 1)).logits

        rng = np.random.default_rng(0)
        self._runs = {}
        for rows, length in SHAPES:
            tokens = jnp.asarray(rng.integers(0, agent.config.vocab_size, (rows, length)), jnp.int32)
            self._runs[fixed_key(rows, length)] = lambda t=tokens: last_logits(state, t).block_until_ready()
        self.prompts, self.options, self.source = battery_items(agent.tokenizer, limit)
        self.scores: list[list[float]] = []

        def battery() -> None:
            scores = score_continuations(agent.model, self.prompts, self.options, buckets=agent.buckets)
            self.scores = [s.tolist() for s in scores]

        self._runs["battery"] = battery
        self.device = str(jax.devices()[0])

    def run(self, name: str, *, warmup: bool = False) -> float:
        start = time.perf_counter()
        self._runs[name]()
        return time.perf_counter() - start


class Peer:
    """HF transformers + torch in another interpreter (``--peer`` mode of this script), driven over a pipe."""

    def __init__(self, python: str, model_dir: Path, prompts: list, options: list, *, autocast: bool = False):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump({"prompts": prompts, "options": options, "autocast_bf16": autocast}, handle)
        self._process = subprocess.Popen(
            [python, __file__, "--peer", str(model_dir), handle.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self._ask({"op": "info"})
        os.unlink(handle.name)  # the peer has read its items once it answers

    def _ask(self, request: dict) -> dict:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the peer process exited (code {self._process.wait()}); see its stderr above")
        return json.loads(line)

    def run(self, name: str, *, warmup: bool = False) -> float:
        """Seconds of one measurement; a warm-up of the battery scores its first batch only (torch compiles nothing)."""
        return self._ask({"op": "run", "name": name, "warmup": warmup})["seconds"]

    def scores(self) -> list[list[float]]:
        return self._ask({"op": "scores"})["scores"]

    def close(self) -> dict:
        """End the peer process; returns its peak memory (``peak_rss_mb``)."""
        answer = self._ask({"op": "quit"})
        self._process.wait()
        return answer


def peer_serve(model_dir: str, items_path: str) -> None:
    """The peer's side: standard library, torch and transformers only; one JSON request and answer per line."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(0)
    runs = {}
    for rows, length in SHAPES:
        tokens = torch.randint(0, vocab, (rows, length), generator=generator)
        runs[fixed_key(rows, length)] = lambda tokens=tokens: model(tokens, logits_to_keep=1)
    items = json.loads(Path(items_path).read_text())
    prompts, options = items["prompts"], items["options"]
    scores = [[0.0] * len(opts) for opts in options]

    def battery(warmup: bool = False) -> None:
        """The standard way: one sequence per (prompt, option), sorted by length, batches of 16, left-padded."""
        pairs = [(i, j) for i, opts in enumerate(options) for j in range(len(opts))]
        pairs.sort(key=lambda ij: len(prompts[ij[0]]) + len(options[ij[0]][ij[1]]))
        for start in range(0, 16 if warmup else len(pairs), 16):
            batch = pairs[start : start + 16]
            seqs = [prompts[i] + options[i][j] for i, j in batch]
            width = max(map(len, seqs))
            keep = max(len(options[i][j]) for i, j in batch) + 1
            ids = torch.tensor([[0] * (width - len(s)) + s for s in seqs])
            mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs])
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)  # [B, keep, V]: positions width-keep .. width-1
            for row, (i, j) in enumerate(batch):
                option = options[i][j]
                n = len(option)
                # Token k of the option sits at width - n + k and is predicted from the position before it.
                rows_ = torch.arange(keep - 1 - n, keep - 1)
                scores[i][j] = float(logprobs[row, rows_, torch.tensor(option)].double().sum())

    runs["battery"] = battery
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(items.get("autocast_bf16")))
    with torch.inference_mode(), autocast:
        for line in sys.stdin:
            request = json.loads(line)
            if request["op"] == "info":
                answer: dict = {"threads": torch.get_num_threads(), "device": "cpu"}
            elif request["op"] == "run":
                start = time.perf_counter()
                if request["name"] == "battery":
                    battery(warmup=request.get("warmup", False))
                else:
                    runs[request["name"]]()
                answer = {"seconds": time.perf_counter() - start}
            elif request["op"] == "scores":
                answer = {"scores": scores}
            else:
                print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)
                return
            print(json.dumps(answer), flush=True)


# ---------------------------------------------------------------- main


def summarise(first: dict[str, float], times: dict[str, list[float]], rows: dict[str, int]) -> dict:
    """``fixed_shapes`` and ``battery`` entries from the first call and the timed repeats of each measurement."""
    result: dict = {"fixed_shapes": {}}
    for name, seconds in times.items():
        best = min(seconds)
        entry = {
            "batch_s": round(best, 3 if name.startswith("fixed/") else 2),
            "prompts_per_s": round(rows[name] / best, 2),
        }
        if name in first:
            entry["compile_s"] = round(max(first[name] - best, 0.0), 1)
        if name.startswith("fixed/"):
            result["fixed_shapes"][name.removeprefix("fixed/")] = entry
        else:
            result["battery"] = {"n_prompts": rows[name], **entry}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="prepared model directory (default: prepare the embedded model)")
    parser.add_argument("--peer-python", default=os.environ.get("ECONALIGN_PEER_PYTHON"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, help="score a seeded sample of this many battery items (default: all)")
    parser.add_argument("--dtype", choices=PRECISIONS, default="float32")
    parser.add_argument(
        "--out", type=Path, help="default: benchmarks/results/scoring.json (scoring_<dtype>.json if mixed)"
    )
    parser.add_argument("--peer", nargs=2, metavar=("MODEL", "ITEMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        peer_serve(args.peer[0], args.peer[1])
        return
    from econalign.io import write_text

    model_dir = args.model
    if model_dir is None:
        from econalign.model.prepare import prepare_model

        prepared = tempfile.TemporaryDirectory(prefix="econalign-bench-model-")  # removed when main() returns
        model_dir = prepare_model("smollm2-135m-instruct", Path(prepared.name))
    mixed = args.dtype != "float32"
    out = args.out or results_file("scoring", args.dtype)
    ours = Ours(model_dir, args.limit, args.dtype)
    sides: dict[str, Ours | Peer] = {"ours": ours}
    if args.peer_python:
        sides["peer"] = Peer(args.peer_python, model_dir, ours.prompts, ours.options, autocast=mixed)
    names = [fixed_key(rows, length) for rows, length in SHAPES] + ["battery"]
    rows = {fixed_key(r, length): r for r, length in SHAPES} | {"battery": len(ours.prompts)}
    loads = [os.getloadavg()[0]]
    first = {side: {name: sides[side].run(name, warmup=True) for name in names} for side in sides}
    times: dict[str, dict[str, list[float]]] = {side: {name: [] for name in names} for side in sides}
    for repeat in range(args.repeats):
        for name in names:
            for side in sides:
                times[side][name].append(sides[side].run(name))
            timings = ", ".join(f"{side} {times[side][name][-1]:.2f} s" for side in sides)
            log(f"repeat {repeat + 1}/{args.repeats} {name}: {timings}")
        loads.append(os.getloadavg()[0])
    result = summarise(first["ours"], times["ours"], rows)
    result["battery"].update(
        source=ours.source,
        n_options=sum(map(len, ours.options)),
        prompt_tokens_mean=round(sum(map(len, ours.prompts)) / len(ours.prompts), 1),
    )
    result["peak_rss_mb"] = peak_rss_mb()
    result["dtype"] = args.dtype
    result["device"] = ours.device
    result["threads"] = os.cpu_count()
    if "peer" in sides:
        peer = sides["peer"]
        assert isinstance(peer, Peer)
        peer_scores = peer.scores()
        # The peer's battery warm-up scored one batch: no compile time to report.
        peer_first = {name: seconds for name, seconds in first["peer"].items() if name != "battery"}
        other = summarise(peer_first, times["peer"], rows) | peer.info
        diff = max(
            abs(a - b) for row, ref in zip(ours.scores, peer_scores, strict=True) for a, b in zip(row, ref, strict=True)
        )
        result["battery"]["max_abs_diff_vs_peer"] = round(diff, 6)
        result["peer"] = other | peer.close()
        result["speedup"] = {
            **{
                f"fixed_shapes/{key}": round(value["prompts_per_s"] / other["fixed_shapes"][key]["prompts_per_s"], 2)
                for key, value in result["fixed_shapes"].items()
            },
            "battery": round(result["battery"]["prompts_per_s"] / other["battery"]["prompts_per_s"], 2),
        }
    result["load_average_1min"] = [round(min(loads), 2), round(max(loads), 2)]
    result["machine"] = machine()
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    write_text(out, text + "\n")


if __name__ == "__main__":
    main()
