from typing import Any, Dict


class NamedArchs:
    """A backbone family whose members are named in ``arch_settings``."""

    arch_settings: Dict[str, Any] = {}

    @classmethod
    def settings(cls, arch: str) -> Any:
        """The settings of ``arch``; an unknown name is one error listing the valid ones."""
        if arch not in cls.arch_settings:
            raise ValueError(f'Unknown {cls.__name__} arch {arch!r}; '
                             f'valid archs: {sorted(cls.arch_settings)}')
        return cls.arch_settings[arch]
