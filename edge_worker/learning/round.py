"""One learning round against a running deployment: the user's Redis, gateway and edge.

    export -> base (a GGUF only) -> train sft [-> rl] [-> gapg] -> convert -> switch (+ refit)

Every step is resumable (``DIR/state.json``, :class:`~edge_worker.learning.state.State`): a rerun
with the same ``--out`` skips what is done. The switch needs an edge that can take the adapter:
vLLM loads the adapter directory at run time; llama-server can only switch on an adapter it was
started with (``netgpt edge run --lora FILE``), so for a llama.cpp edge that does not list the new
GGUF the round stops after the conversion and says which two commands finish it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_worker.learning import steps
from edge_worker.learning.state import State, StepFailed

Say = Callable[[str], None]


@dataclass(frozen=True)
class RoundOptions:
    out: Path
    redis_url: str
    stream: str
    gateway_url: str
    edge_url: str
    flavor: str  # llamacpp | vllm
    model: str  # a .gguf file, a HF directory or id
    name: str  # the model name the adapter is served under
    chat_template: Path | None = None
    variants: tuple[str, ...] = ("sft", "gapg")
    ship: str = "gapg"
    merge: bool = False
    switch: bool = True
    gateway_key: str | None = None
    threads: int | None = None
    train: steps.TrainSettings = field(default_factory=steps.TrainSettings)


class LearnRound:
    def __init__(self, opts: RoundOptions, say: Say) -> None:
        if opts.ship not in opts.variants:
            raise StepFailed(f"--ship {opts.ship}: that variant is not trained (--variant)")
        if "sft" not in opts.variants:
            raise StepFailed("--variant: sft must be trained (rl and gapg start from it)")
        self.o, self.say = opts, say
        opts.out.mkdir(parents=True, exist_ok=True)
        self.state = State(opts.out)
        self.env = steps.child_env(opts.threads)

    @property
    def is_gguf(self) -> bool:
        return self.o.model.endswith(".gguf")

    def base(self) -> Path | str:
        return self.o.out / "base-hf" if self.is_gguf else self.o.model

    def run(self) -> dict[str, Any]:
        o, st, out = self.o, self.state, self.o.out
        export = st.run("export", lambda: steps.export_pairs(
            o.redis_url, o.stream, out / "export", out / "logs" / "export.log"), self.say)
        self.say(f"exported {export['n_train']} training examples from {o.stream}")
        if self.is_gguf:
            st.run("base-hf", self._base_step, self.say)
        for kind in ("sft", "rl", "gapg"):
            if kind in o.variants:
                st.run(f"train-{kind}", self._trainer(kind), self.say)
        adapter = out / o.ship
        if o.flavor == "llamacpp":
            st.run("convert", self._convert_step, self.say)
            adapter = out / "adapter.gguf"
        if not o.switch:
            self.say(f"adapter ready: {adapter} (not switched: --no-switch)")
            return {"adapter": str(adapter), "switched": False}
        self._check_edge_has(adapter)
        switched = st.run("switch", lambda: steps.switch_adapter(
            adapter, o.name, flavor=o.flavor, edge_url=o.edge_url, gateway_url=o.gateway_url,
            log=out / "logs" / "switch.log", gateway_key=o.gateway_key), self.say)
        for line in switched.get("output", []):
            self.say(line)
        return {"adapter": str(adapter), "switched": True, "name": o.name}

    def _base_step(self) -> dict[str, Any]:
        from edge_worker.llamacpp.paths import cache_root

        return steps.base_weights(Path(self.o.model), self.o.chat_template,
                                  self.o.out / "base-hf", cache_root() / "hf",
                                  self.o.out / "logs" / "base-hf.log", self.env, self.say)

    def _trainer(self, kind: str) -> Callable[[], dict[str, Any]]:
        o = self.o
        log = o.out / "logs" / f"train-{kind}.log"

        def train() -> dict[str, Any]:
            self.say(f"[bold]train {kind}[/] (log: {log})")
            return steps.train_variant(
                kind, o.out / "export", o.out / kind, base=self.base(), sft=o.out / "sft",
                template=o.chat_template, opts=o.train, log=log, env=self.env)

        return train

    def _convert_step(self) -> dict[str, Any]:
        o = self.o
        if not self.is_gguf and not Path(o.model).is_dir():
            raise StepFailed("a llama.cpp edge needs a local base model (a .gguf or a HF "
                             f"directory) to convert the adapter against; --model {o.model}")
        return steps.convert_adapter(
            o.out / o.ship, Path(self.base()), o.out / "adapter.gguf", o.out / "merged-hf",
            o.out / "merged.gguf" if o.merge else None, o.out / "logs" / "convert.log", self.env)

    def _check_edge_has(self, adapter: Path) -> None:
        """llama-server switches only adapters it started with: say how to restart it."""
        if self.o.flavor != "llamacpp":
            return
        from edge_worker.lora_llamacpp import LoraError, list_adapters

        try:
            listed = list_adapters(self.o.edge_url)
        except LoraError as exc:
            raise StepFailed(f"the edge at {self.o.edge_url} did not list its adapters: {exc}") from None
        wanted = adapter.resolve()
        if any(Path(str(a.get("path", ""))).resolve() == wanted for a in listed):
            return
        raise StepFailed(
            f"the adapter is ready ({adapter}) but the llama-server at {self.o.edge_url} was not "
            f"started with it. Restart the edge with it: `netgpt edge run --lora {adapter}`, then "
            "run this command again (it resumes at the switch), or switch by hand: "
            f"`netgpt edge load-adapter {adapter} --flavor llamacpp --name {self.o.name} "
            f"--gateway {self.o.gateway_url}`"
        )
