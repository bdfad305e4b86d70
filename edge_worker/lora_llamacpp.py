"""Switch a LoRA adapter on in a running llama-server, without a restart.

llama-server loads its adapters at start (``--lora FILE``, repeated; ``--lora-init-without-apply``
loads them at scale 0) and lists them at ``GET /lora-adapters`` as
``[{"id": 0, "path": "...", "scale": 0.0}, ...]``; ``POST /lora-adapters`` with
``[{"id": 0, "scale": 1.0}, ...]`` sets every request's default scales from then on. So shipping a
new adapter to a llama.cpp edge is: start the server with it loaded (off), then switch it on
here — requests in flight finish on the old weights, the next ones get the new.

Standard library HTTP only (an admin call, like the rest of ``netgpt edge``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_worker.http_json import CallFailed, call


class LoraError(RuntimeError):
    """The adapter could not be switched on; the message says what to do."""


def _call(method: str, url: str, body: Any, key: str | None, timeout_s: float) -> Any:
    try:
        _, text = call(method, url, body, key, timeout_s)
    except CallFailed as exc:
        if exc.status:
            raise LoraError(f"llama-server answered {exc.status} to {method} {url}: {exc}") from None
        raise LoraError(f"llama-server: {exc}") from None
    return json.loads(text or "null")


def root_url(base_url: str) -> str:
    """``http://h:p/v1`` -> ``http://h:p`` (the adapter endpoints are not under /v1)."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def list_adapters(base_url: str, key: str | None = None, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    listing = _call("GET", root_url(base_url) + "/lora-adapters", None, key, timeout_s)
    if not isinstance(listing, list):
        raise LoraError(f"unexpected GET /lora-adapters answer: {str(listing)[:200]}")
    return listing


def _same_file(listed: str, wanted: Path) -> bool:
    try:
        return Path(listed).resolve() == wanted.resolve() or Path(listed).name == wanted.name
    except OSError:
        return False


def set_scales(base_url: str, scales: dict[int, float], key: str | None = None,
               timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """Set every listed adapter's scale (ids not in ``scales`` get 0); returns the new listing."""
    adapters = list_adapters(base_url, key, timeout_s)
    body = [{"id": int(a["id"]), "scale": float(scales.get(int(a["id"]), 0.0))} for a in adapters]
    _call("POST", root_url(base_url) + "/lora-adapters", body, key, timeout_s)
    return list_adapters(base_url, key, timeout_s)


def enable_adapter(base_url: str, adapter: Path, *, key: str | None = None,
                   timeout_s: float = 30.0) -> str:
    """Scale 1 for ``adapter`` (a GGUF file the server loaded), 0 for every other; a summary."""
    adapters = list_adapters(base_url, key, timeout_s)
    match = next((a for a in adapters if _same_file(str(a.get("path", "")), adapter)), None)
    if match is None:
        loaded = ", ".join(str(a.get("path")) for a in adapters) or "none"
        raise LoraError(
            f"llama-server did not load {adapter} (loaded: {loaded}). llama-server reads adapters "
            f"only at start: restart it with --lora {adapter} --lora-init-without-apply "
            f"(netgpt edge run --lora {adapter}), then run this again"
        )
    after = set_scales(base_url, {int(match["id"]): 1.0}, key, timeout_s)
    on = [a for a in after if float(a.get("scale", 0)) > 0]
    if [int(a["id"]) for a in on] != [int(match["id"])]:
        raise LoraError(f"llama-server did not apply the scales: {after}")
    return f"llama-server adapter {match['id']} ({Path(str(match['path'])).name}) on, scale 1"
