"""The learning loop's production steps, run against a deployment (``netgpt learn round``).

Public surface: :class:`LearnRound` and :class:`RoundOptions` (one round, resumable),
:mod:`~edge_worker.learning.steps` (export, base weights, train, convert, switch, refit: what the
BFCL benchmark ``netgpt loop`` drives too), :class:`State` / :class:`StepFailed` (resumable
steps), and :func:`require_train_extra` (the train extra checked before a command starts).
Nothing here imports torch: training and conversion run as child processes.
"""

from edge_worker.learning.extras import MissingExtra, missing_modules, require_train_extra
from edge_worker.learning.round import LearnRound, RoundOptions
from edge_worker.learning.state import State, StepFailed
from edge_worker.learning.steps import TrainSettings

__all__ = [
    "LearnRound", "MissingExtra", "RoundOptions", "State", "StepFailed", "TrainSettings",
    "missing_modules", "require_train_extra",
]
