"""The edge experts: ``NETGPT_EDGE_EXPERTS_FILE`` (TOML, ``[[expert]]`` tables) or, without it,
the single edge of the ``NETGPT_EDGE_*`` settings as a list of one.

Example file (``deploy/experts.example.toml``)::

    [[expert]]
    name = "smol-p2"
    base_url = "http://127.0.0.1:8081/v1"
    model = "smollm2"
    flavor = "llamacpp"
    slots = 2
    context_limit = 4096
    tags = ["weather", "finance"]

Every problem is a :class:`gateway.config.ConfigError` whose message names the variable, the
file and the field (``NETGPT_EDGE_EXPERTS_FILE: experts.toml: expert[1].flavor: Input should be
'vllm', 'llamacpp' or 'openai'``); ``netgpt serve`` prints it and exits with status 2.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from gateway.config import ConfigError, EdgeSettings, Settings

ENV = "NETGPT_EDGE_EXPERTS_FILE"
Flavor = Literal["vllm", "llamacpp", "openai"]
SINGLE_EXPERT = "edge"  # the name of the one expert built from NETGPT_EDGE_* without a file


class LatencyPriorConfig(BaseModel):
    """``[expert.latency]``: where the expert's online latency model starts (seconds; a profile
    measured with ``python -m bench.experts.measure``). Without it: generic defaults."""

    model_config = ConfigDict(extra="forbid")

    ttft_s: float = Field(0.05, gt=0, description="time to first token of a short prompt, alone")
    prefill_s_per_1k: float = Field(0.1, ge=0, description="extra TTFT per 1000 prompt tokens")
    ttft_s_per_extra: float = Field(0.01, ge=0, description="extra TTFT per other running request")
    prefill_s_per_1k_per_extra: float = Field(0.01, ge=0)
    tpot_s: float = Field(0.02, gt=0, description="decode time per token, alone")
    tpot_s_per_extra: float = Field(0.002, ge=0, description="per other running request")
    strength: float = Field(4.0, gt=0, description="how many observations the prior is worth")


class ExpertConfig(BaseModel):
    """One ``[[expert]]`` table."""

    model_config = ConfigDict(extra="forbid")

    # the name is a metric label and the value of the x-netgpt-expert header
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    base_url: AnyHttpUrl
    model: str = Field(min_length=1, max_length=256)
    flavor: Flavor
    context_limit: int | None = Field(None, gt=0, description="prompt + output tokens at most")
    tags: list[str] = Field(default_factory=list, description="tool domains it is good at")
    slots: int | None = Field(None, ge=1, description="requests the server runs at once")
    api_key: SecretStr | None = None
    metrics_url: AnyHttpUrl | None = Field(None, description="default: the server root + /metrics")
    quality: float | None = Field(
        None, ge=0, le=1, description="prior P(acceptable draft) until logged records say more"
    )
    latency: LatencyPriorConfig | None = None

    def scrape_url(self) -> str | None:
        """Where the load gauges are read; None for an ``openai`` server without one (health
        is then probed on ``/models``)."""
        if self.metrics_url is not None:
            return str(self.metrics_url)
        if self.flavor == "openai":
            return None
        root = str(self.base_url).rstrip("/")
        return (root[: -len("/v1")] if root.endswith("/v1") else root) + "/metrics"


class ExpertsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expert: list[ExpertConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ExpertsFile:
        seen: set[str] = set()
        for item in self.expert:
            if item.name in seen:
                raise ValueError(f"expert name '{item.name}' is used twice; names must be unique")
            seen.add(item.name)
        return self


@dataclass(frozen=True, slots=True)
class Expert:
    """A configured expert and the edge-client settings built for it."""

    config: ExpertConfig
    edge: EdgeSettings

    @property
    def name(self) -> str:
        return self.config.name


def _describe(error: ValidationError, path: Path) -> str:
    parts = []
    for item in error.errors():
        loc = ""
        for piece in item["loc"]:
            loc += f"[{piece}]" if isinstance(piece, int) else (f".{piece}" if loc else str(piece))
        parts.append(f"{loc or 'file'}: {item['msg']}")
    return f"{ENV}: {path}: " + "; ".join(parts)


def read_experts_file(path: Path | str) -> list[ExpertConfig]:
    """The experts of a TOML file; raises :class:`ConfigError` naming the field at fault."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{ENV}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        data: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{ENV}: {path} is not valid TOML: {exc}") from None
    try:
        return ExpertsFile.model_validate(data).expert
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def _edge_settings(base: EdgeSettings, expert: ExpertConfig) -> EdgeSettings:
    update: dict[str, Any] = {"base_url": expert.base_url, "model": expert.model}
    if expert.api_key is not None:
        update["api_key"] = expert.api_key
    if "flavor" in EdgeSettings.model_fields:  # the edge client shapes its request per flavor
        update["flavor"] = expert.flavor
    return base.model_copy(update=update)


def _single(settings: Settings) -> ExpertConfig:
    edge = settings.edge
    # unset flavor: detected by the edge client; the scraper reads both servers' gauges anyway
    flavor = getattr(edge, "flavor", None) or "vllm"
    return ExpertConfig(
        name=SINGLE_EXPERT,
        base_url=edge.base_url,
        model=edge.model,
        flavor=flavor,
        api_key=edge.api_key,
    )


def load_experts(settings: Settings) -> list[Expert]:
    """The file's experts, or the one edge of ``NETGPT_EDGE_*`` when no file is set."""
    path = getattr(settings.edge, "experts_file", None)
    if path is None:  # unchanged behaviour: the edge settings as they are (flavor detection too)
        return [Expert(_single(settings), settings.edge)]
    return [Expert(config, _edge_settings(settings.edge, config)) for config in read_experts_file(path)]


def check_policy(name: str) -> str:
    """``name`` when it is a placement policy; else a :class:`ConfigError` naming the variable."""
    from gateway.routing.placement import POLICIES

    if name not in POLICIES:
        raise ConfigError(
            f"NETGPT_ROUTING_PLACEMENT_POLICY: unknown policy {name!r}; choose one of {', '.join(POLICIES)}"
        )
    return name


def check_experts(settings: Settings) -> list[Expert]:
    """Everything about the experts that can be wrong at start (``netgpt serve`` calls it)."""
    check_policy(settings.routing.placement_policy)
    return load_experts(settings)
