"""vm_console's result: the serial console's tail and, when asked, the screen (MCP image content)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ScreenshotInfo(_Model):
    width: int
    height: int
    bytes: int = Field(description="Size of the PNG (sent as an image content block, not in this JSON)")
    source_format: str = Field(description="What the backend produced: png, or ppm converted to PNG")


class ConsoleData(_Model):
    host: str
    vm_name: str
    serial_log: str | None = Field(None, description="Host path of the serial console log, when the VM has one")
    lines: list[str] = Field(default_factory=list, description="The last lines of the serial console")
    screenshot: ScreenshotInfo | None = None
    notes: list[str] = Field(default_factory=list)


class VmConsoleResult(_Model):
    success: bool
    message: str
    data: ConsoleData
