"""Prices, price schedules and the latency model of both sides.

Prices are the providers' published list prices (USD per million tokens, as of August 2024).
Schedules scale the list price by the hour of day: ``flat``, and ``peak_offpeak`` (list price
08:00-20:00, half price otherwise, the shape of DeepSeek's published off-peak discount).

Edge latency is *simulated*: a batch-1 decode model on an A10G-class edge GPU (600 GB/s memory
bandwidth, 125 TFLOP/s fp16), prefill compute-bound at 40 % of peak, decode memory-bound at 80 %
of bandwidth (each output token reads every weight once), plus a fixed 15 ms of serving overhead.
Cloud latency is RTT + bytes/bandwidth from the trace + the cloud model's *recorded* latency for
that request (BFCL-Result ``latency_s``, measured from a well-connected server).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gateway.routing.pricing import PriceSchedule

# USD per million tokens (input, output), providers' list prices, August 2024
LIST_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-2024-08-06-FC": (2.50, 10.00),
    "gpt-4o-mini-2024-07-18-FC": (0.15, 0.60),
    "claude-3-5-sonnet-20240620-FC": (3.00, 15.00),
    "mistral-large-2407-FC-Any": (2.00, 6.00),
}
# parameters of the edge-class models (for the decode model)
EDGE_PARAMS: dict[str, float] = {
    "Salesforce_xLAM-1b-fc-r": 1.35e9,
    "Salesforce_xLAM-7b-fc-r": 6.9e9,
    "meta-llama_Meta-Llama-3-8B-Instruct": 8.0e9,
    "NousResearch_Hermes-2-Pro-Llama-3-8B": 8.0e9,
    "THUDM_glm-4-9b-chat": 9.4e9,
    "meetkai_functionary-small-v3.1-FC": 8.0e9,
}
SCHEDULES = ("flat", "peak_offpeak")
PEAK_HOURS = (8.0, 20.0)
OFFPEAK_FACTOR = 0.5
RESPONSE_ENVELOPE_BYTES = 400  # chat.completion JSON around the tool calls
BYTES_PER_OUTPUT_TOKEN = 4.0
EDGE_FORMAT_TOKENS = 10.0  # the edge model's tool-call wrapper tokens, beyond the cloud's count


def price_schedule(model: str, kind: str) -> PriceSchedule:
    """The gateway's own ``PriceSchedule`` for ``model``: off-peak base price, list price at peak."""
    p_in, p_out = LIST_PRICES[model]
    if kind == "flat":
        return PriceSchedule.from_dict(
            {"models": {model: {"input_per_mtok": p_in, "output_per_mtok": p_out}}}
        )
    if kind != "peak_offpeak":
        raise ValueError(f"unknown price schedule {kind!r}; use one of {SCHEDULES}")
    peak = {
        "name": "peak",
        "hours": [f"{PEAK_HOURS[0]:02.0f}:00", f"{PEAK_HOURS[1]:02.0f}:00"],
        "input_per_mtok": p_in,
        "output_per_mtok": p_out,
    }
    entry = {
        "input_per_mtok": p_in * OFFPEAK_FACTOR,
        "output_per_mtok": p_out * OFFPEAK_FACTOR,
        "rules": [peak],
    }
    return PriceSchedule.from_dict({"models": {model: entry}})


def price_factor(model: str, kind: str, hour: float) -> float:
    """Price in force at ``hour`` (UTC) as a multiple of the list price."""
    p_in, _ = price_schedule(model, kind).price_at(model, hour * 3600.0)
    return p_in * 1e6 / LIST_PRICES[model][0]


@dataclass(frozen=True, slots=True)
class EdgeDevice:
    memory_bandwidth: float = 600e9  # bytes/s
    peak_flops: float = 125e12  # fp16
    decode_efficiency: float = 0.8
    prefill_efficiency: float = 0.4
    overhead_s: float = 0.015
    bytes_per_param: float = 2.0


def edge_latency_s(
    params: float,
    input_tokens: NDArray[np.float64],
    output_tokens: NDArray[np.float64],
    device: EdgeDevice = EdgeDevice(),
) -> NDArray[np.float64]:
    prefill = 2.0 * params * input_tokens / (device.peak_flops * device.prefill_efficiency)
    per_token = (
        params * device.bytes_per_param / (device.memory_bandwidth * device.decode_efficiency)
    )
    result: NDArray[np.float64] = device.overhead_s + prefill + per_token * output_tokens
    return result


def response_bytes(output_tokens: NDArray[np.float64]) -> NDArray[np.float64]:
    result: NDArray[np.float64] = RESPONSE_ENVELOPE_BYTES + BYTES_PER_OUTPUT_TOKEN * output_tokens
    return result
