"""The econalign command line: one subcommand per workflow stage, plus serve and export-openai.

Each subcommand lives in the module of its stage, which defines ``add_arguments(parser)`` and
``main(args)``; this file only registers them, so adding a stage never touches another stage's code.
Snakemake rules call these subcommands; they work the same outside Snakemake.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

# subcommand -> (module defining add_arguments/main, one-line help). Modules load lazily so that
# `econalign synthesize` never pays for importing JAX.
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare-model": ("econalign.model.prepare", "Build an HF-layout model directory from a model spec."),
    "synthesize": ("econalign.data.synthesize", "Write the synthetic datasets and their card."),
    "finetune": ("econalign.train.finetune", "Fine-tune the base model on one agent's dataset."),
    "evaluate": ("econalign.evaluate.battery", "Score one agent on the game battery."),
    "report-games": ("econalign.evaluate.report", "Tables and figures of the game battery."),
    "av": ("econalign.applications.av", "Autonomous-vehicle dilemmas for one agent."),
    "pricing": ("econalign.applications.duopoly", "Repeated duopoly pricing for one or more pairings."),
    "report-applications": ("econalign.applications.report", "Tables and figures of the applications."),
    "paper": ("econalign.report.paper", "Assemble the paper, its markdown summary and provenance."),
    "serve": ("econalign.serve.server", "Serve a local agent over an OpenAI-compatible HTTP API."),
    "export-openai": ("econalign.data.export", "Export training splits as chat fine-tuning JSONL."),
}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the two ways of passing a configuration: a YAML file or an inline JSON object (used by Snakemake)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--config", dest="config_path", metavar="YAML", help="configuration file (default: all defaults)"
    )
    group.add_argument("--config-json", metavar="JSON", help="configuration as a JSON object (as Snakemake passes it)")
    parser.add_argument(
        "--runtime-json",
        metavar="JSON",
        help="settings that change no result (progress bars, checkpoint intervals, tracking), merged "
        "over the configuration and left out of the outputs' provenance (as Snakemake passes them)",
    )


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Resolve the configuration given by :func:`add_config_arguments` (validated, defaults filled).

    Raises:
        SystemExit: With status 2 and the problem on stderr (each bad key named) when the configuration is missing,
            unreadable or invalid: a user error, not a crash, so no traceback.
    """
    import yaml

    from econalign.config import (
        ConfigError,
        StageConfig,
        load_config,
        merged,
        runtime_settings,
        validate_config,
        without_runtime_settings,
    )

    def parse(option: str, text: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{option} is not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{option} expected a mapping of keys, got {type(value).__name__}")
        return value

    try:
        runtime = parse("--runtime-json", args.runtime_json) if getattr(args, "runtime_json", None) else {}
        if runtime_settings(runtime) != runtime:
            extra = without_runtime_settings(runtime)
            raise ConfigError(f"--runtime-json holds settings that change results: {json.dumps(extra, sort_keys=True)}")
        if getattr(args, "config_json", None):
            raw = parse("--config-json", args.config_json)
            return StageConfig(validate_config(merged(raw, runtime)), given=raw)
        resolved = load_config(getattr(args, "config_path", None))
        if runtime:
            validate_config(runtime)  # the values' types and bounds; a resolved config is not validated twice
            resolved = merged(resolved, runtime)
        return resolved
    except (ConfigError, OSError, yaml.YAMLError) as error:
        command = getattr(args, "command", None)
        print(f"econalign{' ' + command if command else ''}: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the argument parser; only the named subcommands' modules are imported."""
    from econalign import __version__

    parser = argparse.ArgumentParser(prog="econalign", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"econalign {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        subparser.set_defaults(_module=module_name)
        if commands is None or name in commands:
            _load(module_name).add_arguments(subparser)
    return parser


def _load(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise SystemExit(f"econalign: {module_name} is not available in this version") from error
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``econalign`` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the chosen subcommand's module: `econalign synthesize` never pays for JAX.
    chosen = next((arg for arg in argv if arg in COMMANDS), None)
    parser = build_parser([chosen] if chosen else [])
    args = parser.parse_args(argv)
    module = _load(args._module)
    from econalign.config import ConfigError
    from econalign.io import MissingInputError
    from econalign.serve.transport import EndpointError

    try:
        result = module.main(args)
    except (ConfigError, MissingInputError) as error:
        # A wrong argument, config value or missing input (a hosted model's unset API key included) is the user's to
        # fix: the message, no traceback, status 2.
        print(f"econalign {args.command}: {error}", file=sys.stderr)
        return 2
    except EndpointError as error:
        # A hosted endpoint that failed for good (after its retries): a failed run, status 1, in one line (the
        # server's reply may span lines); the message names the URL without credentials and never the key.
        print(f"econalign {args.command}: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
