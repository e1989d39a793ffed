"""edgesdk: compress a trained network, generate C or HLS for it, and prove on the device how fast and how exact it runs."""

__version__ = "0.1.0"

from edgesdk.errors import EdgeSDKError  # noqa: E402

__all__ = ["EdgeSDKError", "__version__"]
