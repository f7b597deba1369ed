"""The provider emulator: a real HTTP server per model (Ollama and OpenAI-compatible APIs)."""

from .app import EmulatorSettings, Faults, create_app, parse_latency
from .content import agrees, content_for
from .process import EmulatorProcess, config_for, free_port, start_emulators, stop_all

__all__ = ["EmulatorProcess", "EmulatorSettings", "Faults", "agrees", "config_for", "content_for",
           "create_app", "free_port", "parse_latency", "start_emulators", "stop_all"]
