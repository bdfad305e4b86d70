"""Edge self-improvement: train the edge model on the cloud answers the gateway logged.

Behind the ``train`` extra (torch, transformers, trl, peft). Nothing on the serving path imports
this package; ``netgpt train ...`` imports the heavy libraries only inside the command it runs.

Modules (the pure ones first, so they can be tested without torch):

- ``chat_format``  the hermes chat template and the parser of generated tool calls (as vLLM's
                   ``--tool-call-parser hermes`` parses them)
- ``data``         the JSONL that ``netgpt dataset export`` writes -> prompt / reference examples
- ``rewards``      schema gate, agreement with the cloud, GAPG's hierarchical reward
- ``toy``          a learnable toy task (always call ``get_weather`` with the prompt's city)
- ``tiny_model``   a tiny random Qwen2-style model with a locally trained tokenizer
- ``encode``, ``generation``, ``evaluate``, ``sft``, ``policy_gradient``, ``gapg``, ``card``:
                   the torch side
"""
