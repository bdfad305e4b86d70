"""Settings, read from ``NETGPT_*`` environment variables (pydantic-settings).

Each subsystem has its own settings class with its own prefix, so the environment names stay flat
and match the contract in ARCHITECTURE.md (``NETGPT_EDGE_BASE_URL``, ``NETGPT_CLOUD_API_KEY``,
``NETGPT_REDIS_URL`` ...). ``load_settings()`` builds them all and turns a validation error into a
:class:`ConfigError` whose message names the environment variable to fix.

Tests build ``Settings(...)`` directly with keyword arguments; keyword arguments win over the
environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "your-api-key", "sk-xxx", "xxx", "todo"}

DEFAULT_REDACTIONS = [
    # e-mail addresses
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    # phone numbers: +CC and 7+ digits with separators
    r"(?<![\w])\+?\d[\d\s().-]{7,}\d(?![\w])",
]


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, extra="ignore", case_sensitive=False, validate_default=True
    )


class EdgeSettings(BaseSettings):
    """The edge model: vLLM, llama.cpp's llama-server or any OpenAI-compatible server."""

    model_config = _config("NETGPT_EDGE_")

    base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000/v1")
    model: str = "edge"
    # request shape: log-probs, prefill, load gauges; None = detected from GET /models
    flavor: Literal["vllm", "llamacpp", "openai"] | None = None
    call_prefill: str = Field("", description="assistant turn pre-filled to open a tool call")
    # "guided": on a vLLM edge, force the call with tool_choice "required" and strict function
    # schemas instead of the prefill; "auto": guided on vLLM when a call prefill is set
    # (edge_worker/flavors.py; docs/vllm-edge.md)
    call_strategy: Literal["auto", "prefill", "guided"] = "auto"
    draft_max_tokens: int = Field(256, ge=1, description="cap on the draft's output tokens")
    # stop sequences of a draft; None = "</tool_call>" with a call prefill, none otherwise
    draft_stop: Annotated[list[str] | None, NoDecode] = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(10.0, gt=0, description="whole edge call, connect to last byte")
    connect_timeout_s: float = Field(1.0, gt=0)
    top_logprobs: int = Field(1, ge=0, le=20)
    max_connections: int = Field(512, ge=1)
    probe_url: AnyHttpUrl | None = None
    # several edge experts (TOML, [[expert]] tables; gateway/experts/config.py); unset: this edge
    experts_file: Path | None = None
    # self-consistency (issue 18): k sampled drafts beside the greedy one, their agreement a
    # verifier feature (gateway/routing/verifier/consistency.py); 0 = off
    samples: int = Field(0, ge=0, le=16, description="sampled drafts per request (0 = off)")
    sample_temperature: float = Field(0.7, gt=0, le=2.0)
    # how long the answer waits for the samples once the greedy draft is back; later = none
    sample_wait_s: float = Field(1.0, ge=0)

    @field_validator("flavor", mode="before")
    @classmethod
    def _flavor(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower().replace("llama.cpp", "llamacpp").replace("-", "")
            return value or None
        return value

    @field_validator("call_prefill", mode="before")
    @classmethod
    def _unescape(cls, value: Any) -> Any:
        # an environment variable cannot easily hold a newline: accept a literal \n for one
        if isinstance(value, str):
            return value.replace("\\n", "\n")
        return value

    @field_validator("draft_stop", mode="before")
    @classmethod
    def _split_stop(cls, value: Any) -> Any:
        # comma-separated; an empty string means "no stop sequences" (not the default)
        if isinstance(value, str):
            return [part.replace("\\n", "\n") for part in value.split(",") if part]
        return value


class CloudSettings(BaseSettings):
    """The cloud model: any OpenAI-compatible endpoint."""

    model_config = _config("NETGPT_CLOUD_")

    base_url: AnyHttpUrl = AnyHttpUrl("https://api.openai.com/v1")
    model: str = "gpt-4o-mini"
    api_key: SecretStr | None = None
    connect_timeout_s: float = Field(3.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    backoff_base_s: float = Field(0.2, ge=0)
    backoff_max_s: float = Field(5.0, ge=0)
    max_connections: int = Field(512, ge=1)
    # flat price used when no schedule file is given: USD per million tokens
    price_input_per_mtok: float = Field(0.15, ge=0)
    price_output_per_mtok: float = Field(0.60, ge=0)
    price_schedule_file: Path | None = None
    probe_url: AnyHttpUrl | None = None

    @field_validator("api_key")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; set the real key or leave it unset")
        return value


class RoutingSettings(BaseSettings):
    """Parameters of the threshold τ(z) (ARCHITECTURE.md, "The routing math")."""

    model_config = _config("NETGPT_ROUTING_")

    q_cloud: float = Field(0.95, ge=0, le=1, description="cloud success rate q_c")
    lambda_latency: float = Field(0.1, ge=0, description="quality units per second")
    lambda_cost: float = Field(20.0, ge=0, description="quality units per US dollar")
    cloud_compute_s: float = Field(1.0, ge=0, description="prior for the cloud's compute time")
    expected_output_tokens: int = Field(150, ge=0)
    expected_response_bytes: int = Field(1500, ge=0)
    # static network state used until (or instead of) live probes
    static_rtt_s: float = Field(0.05, ge=0)
    static_bandwidth_bytes_per_s: float = Field(12_500_000.0, gt=0)
    # conservative state used while live estimates are stale
    stale_rtt_s: float = Field(0.3, ge=0)
    stale_bandwidth_bytes_per_s: float = Field(250_000.0, gt=0)
    score_without_logprobs: float = Field(0.5, ge=0, le=1)
    offload_enabled: bool = True
    offload_marker: str = "<unknown>"
    offload_tool: str = "request_cloud_assistance"
    shadow_rate: float = Field(0.0, ge=0, le=1, description="share ε of edge answers shadowed")
    shadow_max_concurrency: int = Field(4, ge=1)
    # which edge expert drafts (gateway.routing.placement.POLICIES; checked at start)
    placement_policy: str = Field("impact", min_length=1)


class BudgetSettings(BaseSettings):
    """Cloud budget, enforced by dual ascent on the multiplier μ."""

    model_config = _config("NETGPT_BUDGET_")

    target_cloud_share: float | None = Field(None, ge=0, le=1, description="ρ")
    spend_per_hour_usd: float | None = Field(None, gt=0)
    window_s: float = Field(300.0, gt=0)
    step_size: float = Field(0.5, gt=0, description="dual ascent step η")
    # μ is in quality units per dollar: holding ρ with a cheap model needs thousands
    multiplier_max: float = Field(1e6, gt=0)
    update_every: int = Field(20, ge=1, description="requests between μ updates")


class NetworkSettings(BaseSettings):
    """Background probes that estimate RTT and bandwidth per upstream."""

    model_config = _config("NETGPT_NETWORK_")

    probes_enabled: bool = True
    probe_interval_s: float = Field(5.0, gt=0)
    probe_jitter: float = Field(0.2, ge=0, le=1)
    probe_timeout_s: float = Field(3.0, gt=0)
    stale_after_s: float = Field(60.0, gt=0)
    ewma_fast_alpha: float = Field(0.5, gt=0, le=1)
    ewma_slow_alpha: float = Field(0.1, gt=0, le=1)
    bandwidth_probe_url: AnyHttpUrl | None = None
    bandwidth_probe_interval_s: float = Field(60.0, gt=0)
    min_transfer_bytes: int = Field(4096, ge=0, description="smaller responses don't count")


class DatasetSettings(BaseSettings):
    """Training dataset of cloud-routed pairs: Redis Stream sink and local spool."""

    model_config = _config("NETGPT_DATASET_")

    enabled: bool = True
    stream_key: str = "netgpt:pairs"
    stream_maxlen: int = Field(1_000_000, ge=1)
    queue_size: int = Field(10_000, ge=1)
    batch_size: int = Field(128, ge=1)
    spool_max_bytes: int = Field(1 << 30, ge=1024)
    redact_patterns: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_REDACTIONS)
    )
    reconnect_max_s: float = Field(5.0, gt=0)
    dedup_ttl_s: int = Field(7 * 86400, ge=60, description="life of the per-record replay marker")
    export_group: str = Field("export", min_length=1, description="consumer group of the export")

    @field_validator("redact_patterns", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            # one regex per line (commas are common inside regexes)
            return [line for line in value.splitlines() if line.strip()]
        return value


class SloSettings(BaseSettings):
    """Default per-request SLO, when the request sends no x-slo-* / x-netgpt-deadline-ms header."""

    model_config = _config("NETGPT_SLO_")

    ttft_ms: float | None = Field(None, gt=0, description="time to first token")
    tpot_ms: float | None = Field(None, gt=0, description="time per output token")
    deadline_ms: float | None = Field(None, gt=0, description="whole request")


class ExpertsSettings(BaseSettings):
    """Live load of the edge experts: scraped server gauges and shared in-flight counts."""

    model_config = _config("NETGPT_EXPERTS_")

    scrape_interval_s: float = Field(0.25, gt=0, description="server /metrics scrape period")
    scrape_timeout_s: float = Field(1.0, gt=0)
    stale_after_s: float = Field(1.0, gt=0, description="scraped gauges older than this are stale")
    share_interval_s: float = Field(0.1, gt=0, description="in-flight counts to/from Redis")
    replica_ttl_s: float = Field(5.0, gt=0, description="a silent replica's counts expire after")


class TenancySettings(BaseSettings):
    """Client keys with per-key limits, admin keys and CORS (gateway/tenancy)."""

    model_config = _config("NETGPT_")

    # TOML/JSON [[key]] tables: name, sha256, rpm, tpm, budget_usd, budget_period (netgpt keys)
    api_keys_file: Path | None = None
    api_keys_reload_s: float = Field(1.0, gt=0, description="how often the key file's mtime is checked")
    # unset: admin endpoints take any client key (as before); set: only these keys
    admin_api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    metrics_require_admin: bool = False
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("admin_api_keys", "cors_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _split_csv(value)


class CalibrationSettings(BaseSettings):
    model_config = _config("NETGPT_CALIBRATION_")

    file: Path | None = Field(None, description="default: DATA_DIR/calibration.json")
    method: Literal["isotonic", "platt"] = "isotonic"
    min_records: int = Field(50, ge=1)
    required: bool = Field(
        False,
        description="true: while no calibration is loaded (a fresh install, or a new edge model "
        "before its refit) every edge draft scores 0, so the cloud answers and the pair is logged "
        "as a label; false: the raw score is trusted as a probability",
    )


class VerifierSettings(BaseSettings):
    """The learned verifier (``gateway.routing.verifier``): once fitted for the edge model in
    use it gives the draft's score s; until then the calibrated log-prob score does."""

    model_config = _config("NETGPT_VERIFIER_")

    enabled: bool = Field(True, description="score with a fitted verifier when one is loaded")
    file: Path | None = Field(None, description="default: DATA_DIR/verifier.json")
    redis_key: str = Field("netgpt:verifier", description="where replicas share the fit")
    min_records: int = Field(50, ge=2, description="refuse to fit on fewer labelled pairs")
    l2: float = Field(1.0, gt=0, description="ridge penalty on the standardised weights")
    skip_margin: float | None = Field(
        None, ge=0, le=1,
        description="pre-draft skip: when the request-only prediction is below tau minus this "
        "margin, go straight to the cloud (reason edge_skipped); unset: off",
    )


class Settings(BaseSettings):
    """Everything the gateway reads at start."""

    model_config = _config("NETGPT_")

    redis_url: str | None = None
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    data_dir: Path = Path("./var")
    max_body_bytes: int = Field(1 << 20, ge=1024)
    client_timeout_s: float = Field(
        30.0, gt=0, description="a client's headers, then its body, must arrive within this (408)"
    )
    shutdown_grace_s: float = Field(
        15.0, ge=0, description="after SIGTERM, requests in flight get this long to finish"
    )
    shutdown_drain_s: float = Field(
        0.0, ge=0, description="after SIGTERM, /readyz fails this long before new connections are refused"
    )
    responses_ttl_s: float = Field(
        86400.0, gt=0, description="how long a stored Responses API answer (store, "
        "previous_response_id, GET /v1/responses/{id}) is kept"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_content: bool = False
    log_requests: bool = True

    edge: EdgeSettings = Field(default_factory=EdgeSettings)
    cloud: CloudSettings = Field(default_factory=CloudSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    verifier: VerifierSettings = Field(default_factory=VerifierSettings)
    tenancy: TenancySettings = Field(default_factory=TenancySettings)
    slo: SloSettings = Field(default_factory=SloSettings)
    experts: ExpertsSettings = Field(default_factory=ExpertsSettings)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.budget.target_cloud_share is not None and self.budget.spend_per_hour_usd:
            raise ValueError(
                "set NETGPT_BUDGET_TARGET_CLOUD_SHARE or NETGPT_BUDGET_SPEND_PER_HOUR_USD, not both"
            )
        return self

    @property
    def calibration_file(self) -> Path:
        return self.calibration.file or self.data_dir / "calibration.json"

    @property
    def verifier_file(self) -> Path:
        return self.verifier.file or self.data_dir / "verifier.json"

    def client_keys(self) -> list[bytes]:
        return [key.get_secret_value().encode() for key in self.api_keys]


class ConfigError(Exception):
    """A setting is invalid; the message names the environment variable."""


_SECTIONS: dict[str, type[BaseSettings]] = {
    "edge": EdgeSettings,
    "cloud": CloudSettings,
    "routing": RoutingSettings,
    "budget": BudgetSettings,
    "network": NetworkSettings,
    "dataset": DatasetSettings,
    "calibration": CalibrationSettings,
    "verifier": VerifierSettings,
    "tenancy": TenancySettings,
    "slo": SloSettings,
    "experts": ExpertsSettings,
}


def _describe(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        name = (prefix + field).upper() if item["loc"] else "settings"
        lines.append(f"{name}: {item['msg']}")
    return "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment, failing with a message that names the variable."""
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        if name in overrides:
            continue
        try:
            sections[name] = cls()
        except ValidationError as exc:
            prefix = str(cls.model_config.get("env_prefix", ""))
            raise ConfigError(_describe(exc, prefix)) from None
    try:
        return Settings(**sections, **overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "NETGPT_")) from None
