"""econalign's extension of the OpenAI chat-completions protocol, shared by the client and ``econalign serve``.

A request may carry ``econalign_continuations``, a list of continuation strings; each choice of the reply then
carries ``econalign_continuation_logprobs``, the agent's prompt-conditioned log-probability of each (docs/hosted.md).
"""

from __future__ import annotations

CONTINUATIONS_FIELD = "econalign_continuations"
CONTINUATION_LOGPROBS_FIELD = "econalign_continuation_logprobs"
