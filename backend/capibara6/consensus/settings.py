from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from capibara6.kit.settings import CommonSettings, ConfigError, Env
from capibara6.ollama import OllamaSettings

SYSTEM_CONFIG = Path("/etc/capibara6/consensus.yaml")
PACKAGED_CONFIG = Path(__file__).with_name("consensus.yaml")


def default_config_path(system_config: Path = SYSTEM_CONFIG,
                        packaged_config: Path = PACKAGED_CONFIG) -> Path:
    """The deployment's file under /etc when there is one, else the packaged default."""
    return system_config if system_config.is_file() else packaged_config


@dataclass(frozen=True)
class ConsensusSettings:
    common: CommonSettings
    ollama: OllamaSettings          # its timeout: for models a request names that the config does not list
    config_path: Path
    max_prompt_chars: int
    max_models: int                 # per query: each model asked is one more thread and call

    @classmethod
    def from_env(cls, env: Env, *, system_config: Path = SYSTEM_CONFIG) -> "ConsensusSettings":
        config_path = env.path("CAPIBARA6_CONSENSUS_CONFIG",
                               doc="Models, weights, timeouts, templates (YAML); else /etc/capibara6/'s, else packaged")
        if config_path is None:
            config_path = default_config_path(system_config)
        elif not config_path.is_file():
            raise ConfigError(f"CAPIBARA6_CONSENSUS_CONFIG: no such file: {config_path}")
        return cls(
            common=CommonSettings.from_env("consensus", env),
            ollama=OllamaSettings.from_env(env, default_model=False),  # the models: the config file's
            config_path=config_path,
            max_prompt_chars=env.int("CAPIBARA6_CONSENSUS_MAX_PROMPT_CHARS", 32000,
                                     minimum=1, maximum=1_000_000, doc="Longest prompt (characters)"),
            max_models=env.int("CAPIBARA6_CONSENSUS_MAX_MODELS", 8, minimum=1, maximum=64,
                               doc="Most models one query may ask"),
        )
