"""What a user may ask cloud-init to do in a new guest: the typed `cloud_init` argument. Pure: no I/O.

Every field is optional. `user_data` (a raw `#cloud-config` document, a `#!` script or another
cloud-init format) replaces the user-data qemu-mcp would generate from the other fields, so it
cannot be combined with them; `hostname` and `network_config` go to their own seed files and
combine with anything. Errors are sentences that never quote a secret: `password_hash` and
`user_data` are left out of the model's repr, and nothing here logs them.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from qemu_mcp.errors import InvalidInput
from qemu_mcp.validation import UNIX_USER

MAX_USER_DATA = 1024 * 1024  # a seed is read whole by cloud-init; a bigger one is a mistake
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_KEY_TYPE = re.compile(r"(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9-]+@openssh\.com)")
_KEY_BODY = re.compile(r"[A-Za-z0-9+/]+={0,3}")
_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]{0,127}(=[A-Za-z0-9.+~:_-]{1,64})?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # newline and tab are fine inside a command
# The first line of user-data cloud-init acts on, besides #cloud-config (checked as YAML) and #! scripts.
OTHER_USER_DATA_HEADERS = (
    "#include",
    "#cloud-boothook",
    "#cloud-config-archive",
    "#part-handler",
    "## template: jinja",
    "Content-Type: multipart/",
)
# One-line fields checked against a pattern, and the sentence a mismatch gets ({} is the value,
# never quoted for password_hash).
_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "user": (UNIX_USER, "user {} is not a valid user name (letters, digits, '_', '.', '-'; 32 at most)"),
    "password_hash": (
        re.compile(r"\$[0-9a-z]{1,4}\$[^\s:]{8,}"),
        "password_hash is not a crypt(3) hash such as the output of `mkpasswd -m sha-512` or "
        "`openssl passwd -6` (it starts with '$'); a plain password is refused",
    ),
    "timezone": (
        re.compile(r"[A-Za-z0-9_+-]{1,32}(/[A-Za-z0-9_+-]{1,32}){0,3}"),
        "timezone {} is not a time zone name like Europe/Paris or UTC",
    ),
    "locale": (
        re.compile(r"C(\.UTF-8)?|POSIX|[a-z]{2,3}(_[A-Z]{2})?(\.[A-Za-z0-9-]{1,16})?(@[a-z]{1,16})?"),
        "locale {} is not a locale name like en_US.UTF-8 or C.UTF-8",
    ),
}
_GENERATED = ("user", "ssh_authorized_keys", "password_hash", "packages", "runcmd", "timezone", "locale")


class CloudInit(BaseModel):
    """cloud-init for a new guest, delivered as a NoCloud seed (see qemu_mcp.nocloud)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hostname: str | None = Field(None, description="host name, or a fully qualified name (first label = host name)")
    user: str | None = Field(None, description="a user to create, with sudo; default: the image's default user")
    ssh_authorized_keys: list[str] = Field(
        default_factory=list, description="public key lines (the content of a .pub file) for `user`"
    )
    password_hash: str | None = Field(
        None, repr=False, description="crypt(3) hash for `user` (mkpasswd -m sha-512, openssl passwd -6)"
    )
    packages: list[str] = Field(default_factory=list, description="packages to install at first boot")
    runcmd: list[str | list[str]] = Field(
        default_factory=list, description="commands run once at first boot: a shell line or an argv list"
    )
    timezone: str | None = Field(None, description="e.g. Europe/Paris")
    locale: str | None = Field(None, description="e.g. en_US.UTF-8")
    user_data: str | None = Field(
        None, repr=False, description="raw user-data (#cloud-config or a #! script) replacing the generated one"
    )
    network_config: dict[str, Any] | str | None = Field(
        None, description="cloud-init network config (version 1 or 2), as a mapping or YAML text"
    )

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 253 or not all(_LABEL.fullmatch(p) for p in value.split("."))):
            raise ValueError(
                f"hostname {value!r} is not a host name: use dot-separated labels of 1-63 letters, digits "
                "or '-' (not first or last), 253 characters at most"
            )
        return value

    @field_validator(*_SHAPES)
    @classmethod
    def _shaped(cls, value: str | None, info: ValidationInfo) -> str | None:
        pattern, sentence = _SHAPES[str(info.field_name)]
        if value is not None and not pattern.fullmatch(value):
            raise ValueError(sentence.format(repr(value)))
        return value

    @field_validator("ssh_authorized_keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        return [check_public_key(key, i) for i, key in enumerate(value)]

    @field_validator("packages")
    @classmethod
    def _packages(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _PACKAGE.fullmatch(name):
                raise ValueError(f"package {name!r} is not a package name (optionally name=version)")
        return value

    @field_validator("runcmd")
    @classmethod
    def _runcmd(cls, value: list[str | list[str]]) -> list[str | list[str]]:
        for i, command in enumerate(value):
            words = [command] if isinstance(command, str) else command
            if not words or any(w == "" or _CONTROL.search(w) for w in words):
                raise ValueError(f"runcmd[{i}] is empty or holds a control character; give a command line or argv")
        return value

    @field_validator("user_data")
    @classmethod
    def _user_data(cls, value: str | None) -> str | None:
        return None if value is None else check_user_data(value)

    @field_validator("network_config")
    @classmethod
    def _network_config(cls, value: dict[str, Any] | str | None) -> dict[str, Any] | None:
        return None if value is None else check_network_config(value)

    @model_validator(mode="after")
    def _consistent(self) -> CloudInit:
        if self.user_data is not None:
            given = [name for name in _GENERATED if getattr(self, name)]
            if given:
                raise ValueError(
                    f"user_data replaces the user-data built from {', '.join(given)}, so they would be "
                    "ignored: put them into user_data, or leave user_data out"
                )
        if self.password_hash is not None and self.user is None:
            raise ValueError("password_hash needs user: name the user whose password it sets")
        return self


def check_public_key(line: str, index: int = 0) -> str:
    """One authorized_keys line: `type base64 [comment]`, as in a .pub file."""
    where = f"ssh_authorized_keys[{index}]"
    text = line.strip()
    if "PRIVATE KEY" in text:
        raise ValueError(f"{where} is a private key; give the public key (the .pub file's content)")
    if "\n" in text or _CONTROL.search(text):
        raise ValueError(f"{where} spans several lines; give one key per list item")
    parts = text.split(None, 2)
    if text.startswith(("/", "~")) or (len(parts) == 1 and text.endswith(".pub")):
        raise ValueError(f"{where} looks like a file path; give the key itself (the .pub file's content)")
    if len(parts) < 2 or not _KEY_TYPE.fullmatch(parts[0]) or not _KEY_BODY.fullmatch(parts[1]):
        raise ValueError(
            f"{where} is not a public key line such as 'ssh-ed25519 AAAAC3Nza... me@laptop' "
            "(types: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-...@openssh.com)"
        )
    return text


def check_user_data(text: str) -> str:
    """Raw user-data: `#cloud-config` must be a YAML mapping; scripts and other formats pass as is."""
    if len(text.encode()) > MAX_USER_DATA:
        raise ValueError(f"user_data is larger than {MAX_USER_DATA // 1024} KiB")
    first = text.lstrip("\ufeff").split("\n", 1)[0].rstrip()
    if first == "#cloud-config":
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(e, "problem", None) or "it cannot be parsed"
            raise ValueError(f"user_data starts with #cloud-config but is not valid YAML{where}: {problem}") from None
        if document is not None and not isinstance(document, dict):
            raise ValueError("user_data starts with #cloud-config but is not a YAML mapping (key: value lines)")
        return text
    if first.startswith("#!") or first.startswith(OTHER_USER_DATA_HEADERS):
        return text
    raise ValueError(
        "user_data must start with '#cloud-config' (a YAML document) or '#!' (a script run at first boot); "
        "cloud-init ignores anything else"
    )


def check_network_config(value: dict[str, Any] | str) -> dict[str, Any]:
    """A cloud-init network config, version 1 or 2, optionally under a top-level `network` key."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError("network_config is not valid YAML") from None
    if not isinstance(value, dict):
        raise ValueError("network_config must be a mapping with `version: 1` or `version: 2`")
    inner = value.get("network", value)
    if not isinstance(inner, dict) or inner.get("version") not in (1, 2):
        raise ValueError("network_config needs `version: 1` or `version: 2` (cloud-init's network config formats)")
    return inner


def parse_cloud_init(value: CloudInit | dict[str, Any]) -> CloudInit:
    """A CloudInit from a tool or CLI argument; InvalidInput says which field is wrong and why."""
    if isinstance(value, CloudInit):
        return value
    try:
        return CloudInit.model_validate(value)
    except ValidationError as e:
        raise InvalidInput("; ".join(_sentence(err) for err in e.errors())) from None


def _sentence(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"cloud_init has no field {loc!r}; the fields are {', '.join(CloudInit.model_fields)}"
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "value_error":  # our own sentences name their field
        return f"cloud_init: {message}"
    return f"cloud_init.{loc}: {message}" if loc else f"cloud_init: {message}"
