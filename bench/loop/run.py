"""The loop itself: per round, traffic through the product, export, measure, train, ship.

Round r (0 = the untrained model)::

    serve   llama-server with round r's model (r >= 1: the new adapter loaded, still off)
    ship    r >= 1: `netgpt edge load-adapter ADAPTER.gguf --flavor llamacpp` switches it on
            (POST /lora-adapters, no restart) and the gateway's edge model (POST
            /v1/router/edge-model)
    traffic traffic slice r through `netgpt serve` (real edge, replayed cloud, NETGPT_REDIS_URL,
            shadow rate > 0): cloud-routed and shadow pairs land in round r's Redis stream;
            then the calibration and the learned verifier are refitted on them (POST
            /v1/router/edge-model, refit; the verifier's answer is read back with its in-sample
            AUC)
    export  `netgpt dataset export` of round r's stream -> DIR/round-r/export (checked: no
            held-out request in it)
    measure the held-out sample through a second `netgpt serve` with the same calibration and
            dataset logging off (held-out requests never reach Redis)
    train   r < rounds: SFT, then RL and GAPG anchored to SFT (`netgpt train ...`) on the export,
            from round r's weights; the shipped variant becomes an adapter GGUF
            (convert_lora_to_gguf.py) and is merged into the next round's base (convert_hf_to_gguf.py)

The production steps (export, base weights, train, convert, load-adapter, refit) are the
product's own (:mod:`edge_worker.learning.steps`, what `netgpt learn round` runs against a
user's deployment); this module adds what only the benchmark has: the BFCL split, the replayed
cloud, the traffic and the held-out measurement.

Measuring after the traffic is deliberate: a round's router needs a calibration fitted on its
own model's drafts, and those come from the traffic.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.common.bfcl import Request
from bench.loop.data import CLOUD_MODEL, Split, assert_disjoint, load_split
from bench.loop.measure import (
    Measurer,
    cloud_cost_total,
    post,
    router_state,
    rows_as_dicts,
    run_all,
    summarise,
)
from bench.loop.services import GatewayProcess, RedisServer, replay_cloud
from bench.loop.verifier import in_sample_auc, refit_summary, stream_records
from edge_worker.learning import steps as learn
from edge_worker.learning.state import State, self_peak_rss_mib

OFFLOAD_TOOL = learn.OFFLOAD_TOOL


@dataclass(frozen=True)
class LoopOptions:
    out: Path
    data: Path
    rounds: int = 2
    held_out_ratio: float = 0.2
    held_out: int = 60
    traffic: int = 80
    shadow_rate: float = 0.3
    concurrency: int = 2
    redis_url: str | None = None
    model: str = "smollm2"
    gguf: Path | None = None
    prefill: str = "<tool_call>\n"
    prefill_rounds: str = "untrained"  # untrained | all | none
    threads: int | None = None
    draft_max_tokens: int = 160
    min_records: int = 20
    sft_steps: int = 10
    batch_size: int = 4
    lr: float = 2e-4
    rl_steps: int = 2
    gapg_steps: int = 3
    prompts_per_step: int = 2
    group_size: int = 4
    max_new_tokens: int = 96
    max_length: int = 1024
    eval_limit: int = 2
    offload_share: float = 0.1
    rho: float = 0.2
    ship: str = "gapg"  # sft | rl | gapg
    skip_variants: tuple[str, ...] = ()  # rl / gapg not trained in the rounds still to train
    require_calibration: bool = False  # NETGPT_CALIBRATION_REQUIRED in the gateways
    seed: int = 0


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, disable=not console.is_terminal)


def _ticker(console: Console, bar: Progress, task: Any, label: str, total: int) -> Callable[[], None]:
    """Advance the bar; without a terminal (a log file, CI) print a line every tenth instead."""
    done = [0]
    step = max(total // 10, 1)

    def tick() -> None:
        bar.advance(task)
        done[0] += 1
        if not console.is_terminal and (done[0] % step == 0 or done[0] == total):
            console.print(f"{label}: {done[0]}/{total}")

    return tick


class Loop:
    def __init__(self, opts: LoopOptions, console: Console) -> None:
        self.o = opts
        self.console = console
        self.out = opts.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = State(self.out)
        run_id = self.state.data.setdefault("run_id", secrets.token_hex(4))
        self.stream_prefix = f"netgpt:loop:{run_id}"
        self.state.data.setdefault("options", json.loads(json.dumps(asdict(opts), default=str)))
        self.split: Split = load_split(opts.data, opts.held_out_ratio)
        self.held = self.split.held_out_sample(opts.held_out)
        from edge_worker.llamacpp.models import ensure_model, template_path

        self.template = template_path(opts.model)
        self.gguf0 = (opts.gguf or ensure_model(opts.model)).resolve()

    def say(self, text: str) -> None:
        self.console.print(text)

    # ------------------------------------------------------------------ paths and models
    def rdir(self, r: int) -> Path:
        path = self.out / f"round-{r}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def base_hf(self, r: int) -> Path:
        """The weights round r's model is trained on (round r's served model without adapter)."""
        return self.out / "base-hf" if r == 0 else self.rdir(r) / "merged-hf"

    def served(self, r: int) -> tuple[Path, Path | None]:
        """(model GGUF, adapter GGUF or None) of round r."""
        if r == 0:
            return self.gguf0, None
        base = self.gguf0 if r == 1 else self.rdir(r - 1) / "merged.gguf"
        return base, self.rdir(r) / "adapter.gguf"

    def child_env(self) -> dict[str, str] | None:
        """--threads also caps torch's threads in training (see learn.child_env)."""
        return learn.child_env(self.o.threads)

    def train_settings(self) -> learn.TrainSettings:
        o = self.o
        return learn.TrainSettings(
            sft_steps=o.sft_steps, batch_size=o.batch_size, lr=o.lr, rl_steps=o.rl_steps,
            gapg_steps=o.gapg_steps, prompts_per_step=o.prompts_per_step, group_size=o.group_size,
            max_new_tokens=o.max_new_tokens, max_length=o.max_length, eval_limit=o.eval_limit,
            offload_share=o.offload_share, rho=o.rho, seed=o.seed, device="cpu",
            offload_tool=OFFLOAD_TOOL)

    def prefill_for(self, r: int) -> str:
        mode = self.o.prefill_rounds
        return self.o.prefill if mode == "all" or (mode == "untrained" and r == 0) else ""

    # ------------------------------------------------------------------ gateway
    def gateway_env(self, r: int, edge_url: str, cloud_url: str, *, logging: bool,
                    redis_url: str) -> dict[str, str]:
        from bench.common.costs import LIST_PRICES

        p_in, p_out = LIST_PRICES[CLOUD_MODEL]
        # q_c: the cloud's recorded accuracy on the traffic side (never the held-out)
        q_cloud = sum(t.cloud.correct for t in self.split.traffic) / max(len(self.split.traffic), 1)
        rd = self.rdir(r)
        env = {
            "NETGPT_EDGE_BASE_URL": edge_url,
            "NETGPT_EDGE_MODEL": self.edge_name(r),
            "NETGPT_EDGE_FLAVOR": "llamacpp",
            "NETGPT_EDGE_CALL_PREFILL": self.prefill_for(r),
            "NETGPT_EDGE_DRAFT_MAX_TOKENS": str(self.o.draft_max_tokens),
            "NETGPT_EDGE_TIMEOUT_S": "300",  # a shared 2-core box can be very slow
            "NETGPT_CLOUD_BASE_URL": cloud_url + "/v1",
            "NETGPT_CLOUD_MODEL": CLOUD_MODEL,
            "NETGPT_CLOUD_PRICE_INPUT_PER_MTOK": str(p_in),
            "NETGPT_CLOUD_PRICE_OUTPUT_PER_MTOK": str(p_out),
            "NETGPT_ROUTING_Q_CLOUD": f"{q_cloud:.4f}",
            "NETGPT_ROUTING_SHADOW_RATE": str(self.o.shadow_rate if logging else 0.0),
            "NETGPT_CALIBRATION_FILE": str(rd / "calibration.json"),
            "NETGPT_CALIBRATION_MIN_RECORDS": str(self.o.min_records),
            "NETGPT_CALIBRATION_REQUIRED": "true" if self.o.require_calibration else "false",
            # the verifier refitted with the calibration after each round's traffic: one file per
            # round (the measuring gateway loads it), a Redis key per run, the loop's record floor
            "NETGPT_VERIFIER_FILE": str(rd / "verifier.json"),
            "NETGPT_VERIFIER_MIN_RECORDS": str(max(self.o.min_records, 2)),
            "NETGPT_VERIFIER_REDIS_KEY": f"{self.stream_prefix}:verifier",
            "NETGPT_DATA_DIR": str(rd / ("var" if logging else "var-measure")),
            "NETGPT_DATASET_ENABLED": "true" if logging else "false",
            "NETGPT_DATASET_STREAM_KEY": self.stream(r),
            "NETGPT_LOG_REQUESTS": "false",
        }
        if logging:
            env["NETGPT_REDIS_URL"] = redis_url
        return env

    def stream(self, r: int) -> str:
        return f"{self.stream_prefix}:r{r}"

    def edge_name(self, r: int) -> str:
        return f"{self.o.model}-r{r}"

    # ------------------------------------------------------------------ steps
    def base_step(self) -> dict[str, Any]:
        """The GGUF de-quantised once per (GGUF, template) into the cache; DIR/base-hf links it."""
        from edge_worker.llamacpp.paths import cache_root

        return learn.base_weights(self.gguf0, self.template, self.base_hf(0), cache_root() / "hf",
                                  self.out / "logs" / "base-hf.log", self.child_env(), self.say)

    def traffic_step(self, r: int, edge: Any, cloud_url: str, redis_url: str) -> dict[str, Any]:
        rd = self.rdir(r)
        # after the requests earlier rounds sent, whatever --traffic they ran with (a resumed
        # run may change it): each round's traffic is new
        start = sum(int((self.state.done(f"r{k}.traffic") or {}).get("requests", self.o.traffic))
                    for k in range(r))
        items = self.split.traffic_slice(r, self.o.traffic, start)
        env = self.gateway_env(r, edge.base_url, cloud_url, logging=True, redis_url=redis_url)
        if r > 0:  # the gateway starts on the previous model's name; load-adapter switches it
            env["NETGPT_EDGE_MODEL"] = self.edge_name(r - 1)
        with GatewayProcess(env, rd / "gateway-traffic.log") as gw:
            shipped = self.ship_adapter(r, edge, gw.url) if r > 0 else None
            with _progress(self.console) as bar:
                task = bar.add_task(f"round {r}: traffic", total=len(items))
                answers = run_all(items, lambda q: post(gw.url + "/v1/chat/completions",
                                                        _traffic_body(q), 300.0),
                                  concurrency=self.o.concurrency,
                                  tick=_ticker(self.console, bar, task, f"round {r}: traffic",
                                               len(items)))
            spend = cloud_cost_total(gw.url)
            refit = learn.refit_calibration(gw.url, self.edge_name(r))
        routes = [a.headers.get("x-netgpt-route", "error") for a in answers]
        result: dict[str, Any] = {
            "requests": len(items),
            "first": start,
            "cloud_routed": routes.count("cloud"),
            "errors": sum(1 for a in answers if a.status != 200),
            "cloud_spend_usd": spend,
            "calibration": refit.get("calibration"),
            "verifier": self.verifier_figures(r, refit.get("verifier"), redis_url),
            "shipped": shipped,
            "artefacts": [],
        }
        (rd / "traffic.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        return result

    def verifier_figures(self, r: int, answer: dict[str, Any] | None,
                         redis_url: str) -> dict[str, Any]:
        """The refit's verifier answer, read back, with its in-sample AUC on the round's records."""
        figures = refit_summary(answer)
        if figures.get("refit"):
            records = stream_records(redis_url, self.stream(r))
            figures["in_sample"] = in_sample_auc(records, self.rdir(r) / "verifier.json",
                                                 self.edge_name(r))
        state = "fitted on {n} records ({positives} agreeing)".format(**figures) \
            if figures.get("refit") else f"not fitted: {str(figures.get('reason'))[:120]}"
        self.say(f"round {r}: verifier {state}")
        return figures

    def ship_adapter(self, r: int, edge: Any, gateway_url: str) -> dict[str, Any]:
        _, adapter = self.served(r)
        assert adapter is not None
        shipped = learn.switch_adapter(adapter, self.edge_name(r), flavor="llamacpp",
                                       edge_url=edge.base_url, gateway_url=gateway_url,
                                       log=self.rdir(r) / "load-adapter.log")
        self.say(f"round {r}: shipped {adapter.name} without a restart ({shipped['seconds']} s)")
        return shipped

    def export_step(self, r: int, redis_url: str) -> dict[str, Any]:
        target = self.rdir(r) / "export"
        exported = learn.export_pairs(redis_url, self.stream(r), target,
                                      self.rdir(r) / "export.log", label=f"round {r}")
        checked = assert_disjoint(target, self.split)
        n_train = exported["n_train"]
        self.say(f"round {r}: exported {n_train} training examples ({checked} records checked: "
                 "none is a held-out request)")
        return {**exported, "checked_disjoint": checked}

    def measure_step(self, r: int, edge: Any, cloud_url: str) -> dict[str, Any]:
        rd = self.rdir(r)
        env = self.gateway_env(r, edge.base_url, cloud_url, logging=False, redis_url="")
        with GatewayProcess(env, rd / "gateway-measure.log") as gw:
            before = cloud_cost_total(gw.url)
            measurer = Measurer(gw.url, edge.root_url, self.prefill_for(r), prefill=self.o.prefill,
                                max_tokens=self.o.draft_max_tokens, timeout_s=300.0)
            with _progress(self.console) as bar:
                task = bar.add_task(f"round {r}: held-out", total=len(self.held))
                rows = run_all(self.held, measurer.one, concurrency=1,
                               tick=_ticker(self.console, bar, task, f"round {r}: held-out",
                                            len(self.held)))
            spend = cloud_cost_total(gw.url) - before
            in_force = router_state(gw.url).get("verifier") or {}
        with (rd / "held_out.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows_as_dicts(rows):
                handle.write(json.dumps(row) + "\n")
        summary = summarise(rows, spend)
        # which score the held-out AUC is of: the verifier's when it scored this round's model
        summary["score_source"] = ("verifier" if in_force.get("loaded") and in_force.get("enabled")
                                   and in_force.get("edge_model") == self.edge_name(r)
                                   else "calibrated log-prob score")
        (rd / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        held = summary["score_auc_held_out"]
        self.say(f"round {r}: edge accuracy {summary['edge_accuracy']:.3f}, offload "
                 f"{summary['offload_rate']:.3f}, e2e {summary['e2e_accuracy']:.3f}; held-out AUC "
                 f"of the {summary['score_source']}: {held['auc']} (n {held['n']})")
        return {**summary, "artefacts": [str(rd / "summary.json")]}

    def train_step(self, r: int, kind: str) -> dict[str, Any]:
        """Round r's export trains round r+1's model (``kind``: sft, rl or gapg)."""
        nxt = self.rdir(r + 1)
        self.say(f"[bold]round {r} -> {r + 1}: train {kind}[/]")
        return learn.train_variant(kind, self.rdir(r) / "export", nxt / kind, base=self.base_hf(r),
                                   sft=nxt / "sft", template=self.template,
                                   opts=self.train_settings(), log=nxt / f"train-{kind}.log",
                                   env=self.child_env())

    def ship_step(self, r: int) -> dict[str, Any]:
        """Round r's trained variant -> round r+1's adapter GGUF and merged base."""
        nxt = self.rdir(r + 1)
        # the merged GGUF is the next round's base; made even in the last round, so --rounds
        # can grow later
        return learn.convert_adapter(nxt / self.o.ship, self.base_hf(r), nxt / "adapter.gguf",
                                     nxt / "merged-hf", nxt / "merged.gguf", nxt / "convert.log",
                                     self.child_env())

    # ------------------------------------------------------------------ the rounds
    def run(self) -> list[dict[str, Any]]:
        from edge_worker.llamacpp.server import LlamaServer

        st = self.state
        st.run("base-hf", self.base_step, self.say)
        redis = RedisServer(self.out / "redis", self.o.redis_url)
        with redis, replay_cloud(self._replays(), CLOUD_MODEL) as cloud:
            for r in range(self.o.rounds + 1):
                self.one_round(r, cloud.url, redis.url, LlamaServer)
        st.data["loop_peak_rss_mib"] = self_peak_rss_mib()
        return self.rounds()

    def one_round(self, r: int, cloud_url: str, redis_url: str, server: Any) -> None:
        st = self.state
        names = [f"r{r}.traffic", f"r{r}.export", f"r{r}.measure"]
        if any(st.done(n) is None for n in names):
            model, adapter = self.served(r)
            with server(self.o.model, model_path=model, lora=[adapter] if adapter else (),
                        lora_init_without_apply=adapter is not None, threads=self.o.threads,
                        alias=self.edge_name(r), log_path=self.rdir(r) / "llama-server.log") as edge:
                st.run(names[0], lambda: self.traffic_step(r, edge, cloud_url, redis_url), self.say)
                if adapter is not None:  # after a resume the restarted server has it off
                    from edge_worker.lora_llamacpp import enable_adapter

                    enable_adapter(edge.base_url, adapter)
                st.run(names[1], lambda: self.export_step(r, redis_url), self.say)
                st.run(names[2], lambda: self.measure_step(r, edge, cloud_url), self.say)
        if r < self.o.rounds:
            for kind in ("sft", "rl", "gapg"):
                if kind in self.o.skip_variants and st.done(f"r{r}.train-{kind}") is None:
                    self.say(f"round {r} -> {r + 1}: train {kind} skipped (--skip-variant)")
                    continue
                st.run(f"r{r}.train-{kind}", _bind(self.train_step, r, kind), self.say)
            st.run(f"r{r}.ship", lambda: self.ship_step(r), self.say)

    def _replays(self) -> dict[str, Any]:
        from bench.common.answers import build_replays

        # the cloud answers with gpt-4o's recorded outputs where the data has them
        return build_replays(self.split.traffic + self.split.held_out, 0.8, self.o.seed,
                             CLOUD_MODEL, data=self.o.data, cloud_model=CLOUD_MODEL)

    def rounds(self) -> list[dict[str, Any]]:
        out = []
        for r in range(self.o.rounds + 1):
            steps = self.state.data["steps"]
            measure = steps.get(f"r{r}.measure")
            if measure is None:
                continue
            model, adapter = self.served(r)
            row: dict[str, Any] = {"round": r, "model_gguf": str(model),
                                   "gateway_call_prefill": self.prefill_for(r)}
            if adapter is not None:
                row["adapter_gguf"] = str(adapter)
            row.update({k: v for k, v in measure.items() if k not in ("artefacts", "finished_at")})
            row["measure_seconds"] = row.pop("seconds", None)
            traffic = steps.get(f"r{r}.traffic", {})
            row["traffic"] = {k: traffic.get(k) for k in
                              ("requests", "cloud_routed", "errors", "cloud_spend_usd", "seconds")}
            row["calibration"] = traffic.get("calibration")
            row["verifier"] = traffic.get("verifier")
            row["exported_train_examples"] = steps.get(f"r{r}.export", {}).get("n_train")
            if r > 0:
                row["training"] = {
                    kind: _train_figures(steps.get(f"r{r - 1}.train-{kind}", {}))
                    for kind in ("sft", "rl", "gapg") if f"r{r - 1}.train-{kind}" in steps
                }  # a variant skipped with --skip-variant has no row
                row["shipped_variant"] = self.o.ship
                row["kl_to_sft"] = (row["training"].get(self.o.ship) or {}).get("kl_to_sft_last")
            out.append(row)
        return out


def _train_figures(entry: dict[str, Any]) -> dict[str, Any]:
    training = entry.get("training") or {}
    return {"seconds": entry.get("seconds"), "peak_rss_mib": entry.get("peak_rss_mib"),
            **{k: v for k, v in training.items() if isinstance(v, int | float)}}


def _bind(fn: Callable[[int, str], dict[str, Any]], r: int, kind: str) -> Callable[[], dict[str, Any]]:
    return lambda: fn(r, kind)


def _traffic_body(request: Request) -> dict[str, Any]:
    from bench.loop.measure import chat_body

    return chat_body(request, "auto")

