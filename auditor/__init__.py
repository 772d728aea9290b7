"""auditor: collects evidence that promised security controls hold on real servers."""

__version__ = "0.1.0"
