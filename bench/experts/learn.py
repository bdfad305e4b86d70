"""Train the learned placement policy offline in the simulator (needs the ``train`` extra: torch).

    python -m bench.experts.learn [--data DIR] [--iterations 12] [--out FILE]

1. **Warm start (behaviour cloning).** Rollouts with the impact policy choosing; the attention
   policy learns to imitate its choices (cross-entropy) from the impact estimator's features.
2. **Policy gradient (REINFORCE).** Rollouts with the policy sampling from its own softmax; the
   return of a placement is its own QoS plus the discounted QoS of the next requests placed
   (γ = 0.8: the slowdown it causes shows there); advantage = return − batch mean, divided by
   the batch standard deviation; an entropy bonus keeps exploring.
3. After each iteration the greedy policy is evaluated on fixed training episodes; the best
   iterate is exported (``gateway/routing/placement/data/placement_policy.json``: plain
   weights, the feature list and the training curve) for the numpy forward pass in
   ``gateway.routing.placement.learned_model``.

Training episodes use seeds ≥ 100 and the *first* half of each Azure trace; ``netgpt bench
experts`` reports seeds 1.. on the *second* half. Bounded: about 3–6 minutes on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.experts.profiles import profile
from bench.experts.run import SCENARIOS, make_requests
from bench.experts.sim import CloudProfile, Outcome, simulate
from bench.experts.workload import (
    LATENCIES,
    QualityTable,
    SimRequest,
    available_traces,
    recorded_call_latencies,
)
from gateway.routing.placement import Estimate, ExpertView, Placement, PolicyState, RequestView
from gateway.routing.placement.learned_model import (
    FEATURES,
    FORMAT_VERSION,
    LearnedPolicy,
    features,
)
from gateway.routing.placement.scorers import impact_score

DEFAULT_OUT = (
    Path(__file__).resolve().parents[2]
    / "gateway"
    / "routing"
    / "placement"
    / "data"
    / "placement_policy.json"
)
HIDDEN = 32
GAMMA = 0.8


class Recorder:
    """Stands in for ``LearnedPolicy`` inside the real ``place()``: chooses and records."""

    def __init__(self, policy: LearnedPolicy | None, rng: random.Random, teacher: bool) -> None:
        self.policy, self.rng, self.teacher = policy, rng, teacher
        self.last: tuple[list[list[float]], int] | None = None

    def choose(
        self, request: RequestView, experts: Sequence[ExpertView], ests: Sequence[Estimate]
    ) -> int:
        rows = features(request, experts, ests)
        if self.teacher or self.policy is None:
            any_meets = any(e.meets for e in ests)
            scores = [
                impact_score(x, e) if (e.meets or not any_meets) else -1e9
                for x, e in zip(experts, ests, strict=True)
            ]
            action = int(np.argmax(scores))
        else:
            logits = self.policy.scores(rows)
            p = np.exp(logits - logits.max())
            p /= p.sum()
            action = int(self.rng.choices(range(len(rows)), weights=p.tolist())[0])
        self.last = ([r[:-1] for r in rows], action)  # without the bias input: torch has its own
        return action


@dataclass
class Episode:
    rows: list[list[list[float]]] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    rids: list[int] = field(default_factory=list)
    qos: dict[int, float] = field(default_factory=dict)

    def returns(self, requests: Sequence[SimRequest]) -> list[float]:
        """Discounted QoS of this request and the next ones, in arrival order."""
        order = [r.rid for r in requests]
        g, acc = {}, 0.0
        for rid in reversed(order):
            acc = self.qos.get(rid, 0.0) + GAMMA * acc
            g[rid] = acc
        return [g[rid] for rid in self.rids]


class _Observer:
    def __init__(self, rec: Recorder, ep: Episode) -> None:
        self.rec, self.ep = rec, ep

    def decided(self, request: SimRequest, placement: Placement, running: Sequence[int]) -> None:  # noqa: ARG002
        if self.rec.last is not None:
            rows, a = self.rec.last
            self.ep.rows.append(rows)
            self.ep.actions.append(a)
            self.ep.rids.append(request.rid)
            self.rec.last = None

    def finished(self, outcome: Outcome) -> None:
        self.ep.qos[outcome.rid] = outcome.qos


def torch_model(n_features: int, hidden: int):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class AttentionPolicy(nn.Module):
        """Mirror of ``LearnedPolicy.scores`` (same weights, same maths)."""

        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(n_features, hidden)
            self.qkv = nn.Linear(hidden, 3 * hidden, bias=False)
            self.out = nn.Linear(hidden, hidden, bias=False)
            self.h = nn.Linear(hidden, hidden)
            self.s = nn.Linear(hidden, 1)
            self.register_buffer("mean", torch.zeros(n_features))
            self.register_buffer("std", torch.ones(n_features))

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, n, F) -> (B, n)
            h = torch.relu(self.inp((x - self.mean) / self.std))
            q, k, v = self.qkv(h).split(hidden, dim=-1)
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hidden), dim=-1)
            z = h + self.out(att @ v)
            return self.s(torch.relu(self.h(z))).squeeze(-1)

        def export(self) -> dict[str, Any]:
            t = lambda w: w.detach().cpu().numpy().astype(float)  # noqa: E731
            return {
                "mean": t(self.mean).tolist(),
                "std": t(self.std).tolist(),
                "w_in": t(self.inp.weight).T.tolist(),
                "b_in": t(self.inp.bias).tolist(),
                "w_qkv": t(self.qkv.weight).T.tolist(),
                "w_out": t(self.out.weight).T.tolist(),
                "w_h": t(self.h.weight).T.tolist(),
                "b_h": t(self.h.bias).tolist(),
                "w_s": t(self.s.weight)[0].tolist(),
                "b_s": float(t(self.s.bias)[0]),
            }

    return AttentionPolicy()


class Trainer:
    def __init__(self, data: Path | None, requests: int, seed: int = 0) -> None:
        self.scenario = SCENARIOS["gpu-box"]
        self.profiles = [profile(n) for n in self.scenario.experts]
        self.qualities = QualityTable.load(data)
        self.traces = available_traces(data)
        calls = recorded_call_latencies(data, CloudProfile().model)
        self.cloud = (
            CloudProfile(call_s=tuple(calls), source=LATENCIES) if calls else CloudProfile()
        )
        self.requests = requests
        self.rng = random.Random(seed)
        self.workloads = ["poisson", *sorted(self.traces)]
        self.loads = (0.5, 0.8, 0.95)

    def episode(
        self, policy: LearnedPolicy | None, teacher: bool, workload: str, util: float, seed: int
    ) -> tuple[Episode, list[SimRequest], list[Outcome]]:
        reqs = make_requests(
            workload,
            self.requests,
            util,
            seed,
            self.profiles,
            self.scenario.slos,
            self.traces,
            part="train",
        )
        rec = Recorder(policy, random.Random(seed), teacher)
        ep = Episode()
        outs, _ = simulate(
            reqs,
            self.profiles,
            self.qualities,
            "learned",
            seed,
            PolicyState(learned=rec),
            self.cloud,
            _Observer(rec, ep),
        )  # type: ignore[arg-type]
        return ep, reqs, outs

    def evaluate(self, policy: LearnedPolicy | None, seeds: Sequence[int]) -> dict[str, float]:
        """Greedy policy (or the impact teacher with ``policy=None``) on fixed training episodes."""
        qos, miss = [], []
        for wl in self.workloads:
            for util in (0.8, 0.95):
                for seed in seeds:
                    reqs = make_requests(
                        wl,
                        self.requests,
                        util,
                        seed,
                        self.profiles,
                        self.scenario.slos,
                        self.traces,
                        part="train",
                    )
                    state = PolicyState(learned=policy) if policy else PolicyState()
                    outs, _ = simulate(
                        reqs,
                        self.profiles,
                        self.qualities,
                        "learned" if policy else "impact",
                        seed,
                        state,
                        self.cloud,
                    )
                    qos.append(statistics.fmean(o.qos for o in outs))
                    miss.append(statistics.fmean(0.0 if o.met else 1.0 for o in outs))
        return {"mean_qos": statistics.fmean(qos), "slo_miss_rate": statistics.fmean(miss)}


def _batches(rows: Sequence[list[list[float]]]) -> dict[int, list[int]]:
    by_n: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        if len(r) > 1:
            by_n.setdefault(len(r), []).append(i)
    return by_n


def train(
    data: Path | None, out: Path, iterations: int, requests: int, bc_steps: int, log: bool = True
) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(1)
    tr = Trainer(data, requests)
    started = time.monotonic()
    say = print if log else (lambda *_: None)

    # 1. behaviour cloning from the impact policy
    rows: list[list[list[float]]] = []
    acts: list[int] = []
    for k, wl in enumerate(tr.workloads):
        for util in tr.loads:
            ep, _, _ = tr.episode(None, True, wl, util, 100 + k)
            rows += ep.rows
            acts += ep.actions
    model = torch_model(len(FEATURES), HIDDEN)
    flat = torch.tensor([r for rs in rows for r in rs], dtype=torch.float32)
    model.mean.copy_(flat.mean(0))
    model.std.copy_(flat.std(0).clamp_min(1e-3))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    groups = {
        n: (
            torch.tensor([rows[i] for i in idx], dtype=torch.float32),
            torch.tensor([acts[i] for i in idx]),
        )
        for n, idx in _batches(rows).items()
    }
    bc_curve = []
    for step in range(bc_steps):
        loss = sum(
            torch.nn.functional.cross_entropy(model(x), y, reduction="sum")
            for x, y in groups.values()
        ) / max(len(acts), 1)
        opt.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        opt.step()
        if step % 25 == 0 or step == bc_steps - 1:
            with torch.no_grad():
                agree = sum(int((model(x).argmax(-1) == y).sum()) for x, y in groups.values())
            bc_curve.append({"step": step, "loss": loss.item(), "agreement": agree / len(acts)})
            say(
                f"bc step {step}: loss {loss.item():.3f}, agrees with impact on "
                f"{agree / len(acts):.1%} of {len(acts)} decisions"
            )

    def current() -> LearnedPolicy:
        return LearnedPolicy(model.export())

    eval_seeds = (200,)
    teacher = tr.evaluate(None, eval_seeds)
    best = tr.evaluate(current(), eval_seeds)
    best_weights, best_iter = model.export(), 0
    curve = [
        {
            "iteration": 0,
            "phase": "behaviour cloning",
            **best,
            "sampled_qos": None,
            "elapsed_s": time.monotonic() - started,
        }
    ]
    say(f"impact teacher on training episodes: {teacher}")
    say(f"iteration 0 (cloned): {best}")

    # 2. REINFORCE from the cloned start
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for it in range(1, iterations + 1):
        rows, acts, rets = [], [], []
        sampled_qos = []
        for k, wl in enumerate(tr.workloads):
            util = tr.rng.choice(tr.loads[1:])
            ep, reqs, outs = tr.episode(current(), False, wl, util, 1000 + it * 10 + k)
            g = ep.returns(reqs)
            rows += ep.rows
            acts += ep.actions
            rets += g
            sampled_qos.append(statistics.fmean(o.qos for o in outs))
        r = torch.tensor(rets, dtype=torch.float32)
        adv = (r - r.mean()) / (r.std() + 1e-6)
        idx_by_n = _batches(rows)
        loss = torch.zeros(())
        for idx in idx_by_n.values():
            x = torch.tensor([rows[i] for i in idx], dtype=torch.float32)
            a = torch.tensor([acts[i] for i in idx])
            logp = torch.log_softmax(model(x), dim=-1)
            chosen = logp.gather(1, a[:, None]).squeeze(1)
            entropy = -(logp.exp() * logp).sum(-1)
            loss = loss - (chosen * adv[idx]).sum() / len(rows) - 0.01 * entropy.sum() / len(rows)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ev = tr.evaluate(current(), eval_seeds)
        curve.append(
            {
                "iteration": it,
                "phase": "policy gradient",
                **ev,
                "sampled_qos": statistics.fmean(sampled_qos),
                "elapsed_s": time.monotonic() - started,
            }
        )
        say(f"iteration {it}: greedy {ev}, sampled QoS {statistics.fmean(sampled_qos):.3f}")
        if ev["mean_qos"] - ev["slo_miss_rate"] > best["mean_qos"] - best["slo_miss_rate"]:
            best, best_weights, best_iter = ev, model.export(), it

    doc = {
        "format": FORMAT_VERSION,
        "features": list(FEATURES),
        "weights": best_weights,
        "meta": {
            "trained": "python -m bench.experts.learn "
            f"--iterations {iterations} --requests {requests} --bc-steps {bc_steps}",
            "scenario": tr.scenario.name,
            "hidden": HIDDEN,
            "gamma": GAMMA,
            "chosen_iteration": best_iter,
            "selection": "highest (mean QoS − SLO miss rate) of the greedy policy on training "
            "episodes (seed 200, first half of the traces)",
            "teacher_on_training_episodes": teacher,
            "bc_curve": bc_curve,
            "curve": curve,
            "elapsed_s": time.monotonic() - started,
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    say(f"wrote {out} (iteration {best_iter}, {doc['meta']['elapsed_s']:.0f} s)")
    return doc


def main(argv: list[str] | None = None) -> int:
    from bench.common.bfcl import default_data_dir

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder with workloads/ and outcomes/ (default ../shared/data)",
    )
    ap.add_argument("--iterations", type=int, default=12, help="policy-gradient iterations")
    ap.add_argument("--requests", type=int, default=1500, help="requests per episode")
    ap.add_argument("--bc-steps", type=int, default=300, help="behaviour-cloning steps")
    ap.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"weights file (default {DEFAULT_OUT})"
    )
    args = ap.parse_args(argv)
    data = args.data or default_data_dir()
    train(data if data.is_dir() else None, args.out, args.iterations, args.requests, args.bc_steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
