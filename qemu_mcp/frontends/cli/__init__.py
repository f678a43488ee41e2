"""The CLI (and `qemu-mcp serve`).

pydantic looks for its plugins when it builds the first model: a scan of every installed
package's entry points (importlib.metadata), tens of milliseconds at every start. qemu-mcp uses
no pydantic plugin, so its processes skip the scan unless PYDANTIC_DISABLE_PLUGINS is already set
(set it to an empty string to have pydantic's plugins loaded).
"""

import os

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
