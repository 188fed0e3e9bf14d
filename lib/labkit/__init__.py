"""labkit: the lab's toolbox. Starts, stops and describes the services; holds the code the notebooks share."""
from labkit.config import Config, load
from labkit.errors import LabError

__all__ = ["Config", "LabError", "load"]
__version__ = "0.1.0"
