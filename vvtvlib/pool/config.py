"""``pool/providers.toml``: the providers and the pool's settings (strategies, breaker, cache).

    [pool]
    hedge_after_ms = 250          # FASTEST asks the next provider after this long
    hedge_budget_ratio = 0.2      # each request earns 0.2 hedge tokens ...
    hedge_budget_burst = 5        # ... up to 5; a hedge spends one
    voting_k = 3
    judge = "qwen-7b"             # JUDGE's judge (default: the heaviest healthy provider)
    cache_ttl_s = 300
    cache_max_entries = 10000

    [breaker]
    failure_threshold = 5         # consecutive failures that open it
    error_rate = 0.5              # ... or this error rate over window_s
    window_s = 30
    min_calls = 10                # ... once the window holds this many calls
    cooldown_s = 10               # open -> half-open probe after this long

    [[providers]]
    id = "phi3-mini"
    kind = "ollama"               # ollama | openai
    base_url = "http://127.0.0.1:11434"
    model = "phi3:mini"
    weight = 1.0
    max_concurrency = 8
    timeout_ms = 5000
    [providers.emulator]          # optional: `vvtvctl api up` starts an emulator for it
    latency_ms = "300:900"
    error_rate = 0.01
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from vvtvlib.core.config import Section, read_toml, validate
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.layout import resolve_root


class EmulatorSpec(Section):
    latency_ms: str = "0"
    error_rate: float = Field(default=0.0, ge=0, le=1)
    messy_rate: float = Field(default=0.0, ge=0, le=1)


class ProviderConfig(Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    kind: Literal["ollama", "openai"] = "ollama"
    base_url: str = Field(pattern=r"^https?://")
    model: str
    weight: float = Field(default=1.0, gt=0)
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    timeout_ms: int = Field(default=5000, ge=10, le=600_000)
    ollama_api: Literal["chat", "generate"] = "chat"
    emulator: EmulatorSpec | None = None


class PoolSettings(Section):
    hedge_after_ms: int = Field(default=250, ge=0)
    hedge_budget_ratio: float = Field(default=0.2, ge=0, le=1)
    hedge_budget_burst: float = Field(default=5.0, ge=0)
    voting_k: int = Field(default=3, ge=1)
    judge: str | None = None
    cache_ttl_s: float = Field(default=300.0, ge=0)
    cache_max_entries: int = Field(default=10_000, ge=0)
    # FASTEST asks a provider whose latency estimate is this old first, once, so that one
    # slow answer does not keep it last for good (0: never)
    explore_after_s: float = Field(default=30.0, ge=0)


class BreakerSettings(Section):
    failure_threshold: int = Field(default=5, ge=1)
    error_rate: float = Field(default=0.5, gt=0, le=1)
    window_s: float = Field(default=30.0, gt=0)
    min_calls: int = Field(default=10, ge=1)
    cooldown_s: float = Field(default=10.0, ge=0)


class PoolConfig(Section):
    pool: PoolSettings = PoolSettings()
    breaker: BreakerSettings = BreakerSettings()
    providers: list[ProviderConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> PoolConfig:
        ids = [p.id for p in self.providers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"provider ids must be unique: {', '.join(dupes)}")
        if self.pool.judge is not None and self.pool.judge not in ids:
            raise ValueError(f"judge {self.pool.judge!r} is not a provider id")
        return self


def pool_dir(root: str | Path | None) -> Path:
    return resolve_root(root) / "pool"


def providers_path(root: str | Path | None) -> Path:
    return pool_dir(root) / "providers.toml"


def load_pool_config(path: str | Path) -> PoolConfig:
    return validate(PoolConfig, read_toml(path), source=path)


def write_pool_config(path: str | Path, config: PoolConfig) -> Path:
    import tomli_w

    data = config.model_dump(exclude_none=True)
    return atomic_write(path, tomli_w.dumps(data))


LAB_PROVIDERS = (
    ("phi3-mini", "phi3:mini", 11501, "120:400", 1.0),
    ("qwen-7b", "qwen2.5:7b", 11502, "200:600", 1.5),
    ("gemma-9b", "gemma2:9b", 11503, "300:900", 2.0),
)


def lab_config() -> PoolConfig:
    """Three emulated models on local ports: the lab's default ``providers.toml``."""
    return PoolConfig(providers=[
        ProviderConfig(id=pid, kind="ollama", base_url=f"http://127.0.0.1:{port}", model=model,
                       weight=weight, emulator=EmulatorSpec(latency_ms=latency, error_rate=0.01,
                                                            messy_rate=0.05))
        for pid, model, port, latency, weight in LAB_PROVIDERS])
