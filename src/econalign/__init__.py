"""econalign: align LLM agents with explicit economic preferences.

The SDK's names are re-exported here; see README.md for the three-line example.
"""

__version__ = "0.1.0"
