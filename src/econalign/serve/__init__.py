"""Hosted and served models: an OpenAI-compatible client agent, a local server, a response cache."""

from econalign.serve.cache import ResponseCache as ResponseCache
from econalign.serve.cache import request_key as request_key
from econalign.serve.hosted import load_hosted_agent as load_hosted_agent
from econalign.serve.openai_backend import OpenAIChatAgent as OpenAIChatAgent
from econalign.serve.sampling import SampledChoices as SampledChoices
from econalign.serve.scoring import OptionScore as OptionScore
from econalign.serve.scoring import score_options as score_options
from econalign.serve.settings import HostedSettings as HostedSettings
from econalign.serve.settings import check_hosted_names as check_hosted_names
from econalign.serve.settings import hosted_entry as hosted_entry
from econalign.serve.transport import EndpointError as EndpointError
from econalign.serve.transport import RetryPolicy as RetryPolicy
