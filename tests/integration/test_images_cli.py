"""`qemu-mcp image upload|list`, `vm create --image [--full]`, `vm clone` as a person runs them
(subprocess, the plain-QEMU rig host over SSH)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from qemu_mcp.config import HostSpec
from tests.integration.qemu_helpers import QemuArea
from tests.integration.test_cli import cli
from tests.integration.test_images import plain, q_area, tiny_qcow2  # noqa: F401

pytestmark = pytest.mark.integration


def test_image_and_clone_commands(plain: HostSpec, q_area: QemuArea, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "hosts.yaml"
    config.write_text(yaml.safe_dump({"hosts": [plain.model_dump(mode="json", exclude_none=True)]}))
    local = tiny_qcow2(tmp_path / "cli.qcow2", "16M")
    cfg = str(config)

    up = cli("image", "upload", str(local), "--host", "plain", config=cfg)
    assert up.returncode == 0, up.stderr
    assert "sha256" in up.stdout and Path(plain.images, "cli.qcow2").is_file()
    again = cli("image", "upload", str(local), "--host", "plain", config=cfg)
    assert again.returncode != 0 and "already exists" in again.stderr

    made = cli("vm", "create", "web", "--arch", "x86_64", "--memory", "64M", "--image", "cli.qcow2",
               "--host", "plain", config=cfg)  # fmt: skip
    assert made.returncode == 0, made.stderr
    full = cli("vm", "create", "webfull", "--arch", "x86_64", "--memory", "64M", "--image", "cli.qcow2", "--full",
               "--host", "plain", config=cfg)  # fmt: skip
    assert full.returncode == 0 and "full copy" in full.stdout, full.stderr
    cloned = cli("vm", "clone", "web", "web2", "--host", "plain", config=cfg)
    assert cloned.returncode == 0 and "linked overlays" in cloned.stdout, cloned.stderr

    listed = cli("image", "list", "--host", "plain", "--json", config=cfg)
    assert listed.returncode == 0, listed.stderr
    (image,) = [i for i in json.loads(listed.stdout)["images"] if i["name"] == "cli.qcow2"]
    assert sorted(image["used_by"]) == ["web", "web2"]  # web2 is an overlay on web's overlay on the image
    table = cli("image", "list", "--host", "plain", config=cfg)
    assert table.returncode == 0 and "cli.qcow2" in table.stdout

    refused = cli("vm", "delete", "web", "--yes", "--host", "plain", config=cfg)
    assert refused.returncode != 0 and "web2" in refused.stderr
    for name in ("web2", "web", "webfull"):
        gone = cli("vm", "delete", name, "--yes", "--host", "plain", config=cfg)
        assert gone.returncode == 0, gone.stderr
    assert Path(plain.images, "cli.qcow2").is_file()
