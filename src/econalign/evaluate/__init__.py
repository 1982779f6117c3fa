"""The game battery: agents and reference rules on the test splits, metrics with uncertainty, tables and figures.

Figures and the ``report-games`` command live in ``econalign.evaluate.figures`` / ``.report`` (they import
matplotlib) and are not re-exported here.
"""

from econalign.evaluate.battery import build_battery as build_battery
from econalign.evaluate.battery import evaluate_agent as evaluate_agent
from econalign.evaluate.battery import evaluate_references as evaluate_references
from econalign.evaluate.battery import evaluate_scorer as evaluate_scorer
from econalign.evaluate.benchmarks import BENCHMARKS as BENCHMARKS
from econalign.evaluate.benchmarks import Benchmark as Benchmark
from econalign.evaluate.cache import ScoreCache as ScoreCache
from econalign.evaluate.metrics import summarise as summarise
from econalign.evaluate.per_item import item_results as item_results
from econalign.evaluate.predictions import Theory as Theory
from econalign.evaluate.predictions import theories_from_config as theories_from_config
from econalign.evaluate.reference import reference_scorers as reference_scorers
from econalign.evaluate.scoring import AgentScorer as AgentScorer
from econalign.evaluate.scoring import Scorer as Scorer
from econalign.evaluate.scoring import Scores as Scores
from econalign.evaluate.stats import fit_linear_probability as fit_linear_probability
from econalign.evaluate.stats import fit_logit as fit_logit
from econalign.evaluate.stats import wilson_interval as wilson_interval
