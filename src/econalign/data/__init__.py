"""Prompt templates, dataset synthesis and the dataset card (imports theory, never model code)."""

from econalign.data.reasoning import render_target as render_target
from econalign.data.synthesize import DATASET_SCHEMA as DATASET_SCHEMA
from econalign.data.synthesize import DATASET_VERSION as DATASET_VERSION
from econalign.data.synthesize import SPLITS as SPLITS
from econalign.data.synthesize import TEST_SPLITS as TEST_SPLITS
from econalign.data.templates import DECISION_PREFIX as DECISION_PREFIX
from econalign.data.templates import TEMPLATES as TEMPLATES
from econalign.data.templates import RenderedItem as RenderedItem
from econalign.data.templates import decision_line as decision_line
from econalign.data.templates import parse_decision as parse_decision
from econalign.data.templates import render_item as render_item
