"""Epic N's LLM pool: providers behind one port, four strategies, breaker, deadline, cache.

Layer: imports only ``vvtvlib.core``. See ``pool.py`` for the strategies, ``providers.py``
for the port and its adapters, ``emulator/`` for the provider emulator.
"""

from .breaker import BreakerState, CircuitBreaker
from .cache import AnswerCache, cache_key
from .config import PoolConfig, ProviderConfig, lab_config, load_pool_config, providers_path
from .errors import DeadlineExceeded, NotReady, PoolError, ProviderFailed, SchemaInvalid
from .pool import Pool, ProviderHealth
from .providers import OllamaProvider, OpenAIProvider, Provider, ProviderCall, ProviderReply
from .records import InferRequest, InferResult, Strategy
from .sanitize import InvalidOutput, sanitize
from .tasks import TASKS, Task, schema_files

__all__ = [
    "TASKS", "AnswerCache", "BreakerState", "CircuitBreaker", "DeadlineExceeded",
    "InferRequest", "InferResult", "InvalidOutput", "NotReady", "OllamaProvider",
    "OpenAIProvider", "Pool", "PoolConfig", "PoolError", "Provider", "ProviderCall",
    "ProviderConfig", "ProviderFailed", "ProviderHealth", "ProviderReply", "SchemaInvalid",
    "Strategy", "Task", "cache_key", "lab_config", "load_pool_config", "providers_path",
    "sanitize", "schema_files",
]
