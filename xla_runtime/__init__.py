"""xla_runtime: HLO in, results out. See README.md and ../shared/DESIGN.md for the map."""
from .errors import HloParseError, HloVerifierError, UnsupportedError
from .hlo import HloModule, parse_hlo
from .client import Buffer, Client, Device, Executable

__all__ = ["HloParseError", "HloVerifierError", "UnsupportedError", "HloModule", "parse_hlo",
           "Client", "Buffer", "Device", "Executable"]
