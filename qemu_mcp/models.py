"""Pydantic models: what parsers produce and what tools return. No I/O here.

Tool results follow seed 004's envelope: ``{success, message, data}``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qemu_mcp.models_addresses import AddressInfo, SshEndpoint, VncEndpoint

# What `list_vms(status=...)` filters on. libvirt's finer states are kept in VmInfo.state.
VmStatus = Literal["running", "stopped", "paused", "shutting-down", "crashed", "suspended", "unknown"]
Backend = Literal["libvirt", "qemu"]


class _Model(BaseModel):
    # defer_build: a model's validator and serializer are built when it is first used, so a
    # command pays only for the models it uses (start-up time), not for all of them at import.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class DiskInfo(_Model):
    target: str = Field(description="Guest device name, e.g. vda, sda, hdc")
    device: str = Field("disk", description="disk, cdrom or floppy")
    path: str | None = Field(None, description="Host path of the image (or source name for network disks)")
    format: str | None = Field(None, description="Image format: qcow2, raw, ...")
    bus: str | None = None
    readonly: bool = False
    capacity_bytes: int | None = Field(None, description="Virtual size seen by the guest")
    allocation_bytes: int | None = Field(None, description="Bytes allocated on the host")


class NicInfo(_Model):
    mac: str | None = None
    type: str = Field(description="network, bridge, user, direct, ...")
    source: str | None = Field(None, description="Network or bridge name, or device")
    model: str | None = None
    target: str | None = Field(None, description="Host-side tap device while running")


class GraphicsInfo(_Model):
    type: str = Field(description="vnc, spice, ...")
    port: int | None = Field(None, description="TCP port while running (-1/None when not allocated)")
    listen: str | None = None
    autoport: bool = False


class VmInfo(_Model):
    name: str
    uuid: str
    host: str = Field(description="Inventory name of the host the VM lives on")
    status: VmStatus
    state: str = Field(description="The backend's own state word, e.g. libvirt 'shut off', 'paused'")
    arch: str | None = None
    machine: str | None = None
    domain_type: str | None = Field(None, description="kvm or qemu (TCG)")
    vcpus: int
    max_vcpus: int | None = None
    memory: int = Field(description="Current memory in MiB")
    max_memory: int | None = Field(None, description="Maximum memory in MiB")
    disks: list[DiskInfo] = Field(default_factory=list)
    nics: list[NicInfo] = Field(default_factory=list)
    graphics: list[GraphicsInfo] = Field(default_factory=list)
    autostart: bool | None = None
    persistent: bool | None = None
    cpu_time_ns: int | None = Field(None, description="Total guest CPU time consumed, from domstats")
    notes: list[str] = Field(
        default_factory=list, description="What the backend noticed, e.g. a stale pidfile (plain QEMU)"
    )
    addresses: list[AddressInfo] = Field(default_factory=list, description="Guest addresses known (see source)")
    ssh: SshEndpoint | None = Field(None, description="The host's 127.0.0.1 forward to the guest's SSH, if any")
    vnc: VncEndpoint | None = Field(None, description="The running VM's VNC display on its host")


class VmDetail(VmInfo):
    xml: str | None = Field(None, description="Domain XML as the backend reports it (libvirt)")
    config: str | None = Field(None, description="The VM's vm.conf (plain QEMU)")
    command_line: list[str] | None = Field(None, description="The running qemu's argv (plain QEMU)")


class HostFailure(_Model):
    host: str
    error: str = Field(description="Why the host could not be listed")
    kind: str = Field(description="Error class, e.g. HostUnreachable, AuthFailed, HostKeyRefused")


class ListVmsData(_Model):
    host: str = Field(description="Host name, or a comma-separated list when several hosts were listed")
    vm_count: int
    vms: list[VmInfo]
    errors: list[HostFailure] = Field(default_factory=list)


class HostTools(_Model):
    virsh: str | None = None
    qemu_img: str | None = None
    qemu_system: list[str] = Field(default_factory=list, description="qemu-system-<arch> binaries found")
    iostat: str | None = None


class HostInfo(_Model):
    host: str
    hostname: str | None = None
    cpu_model: str | None = None
    cpus: int | None = None
    cpu_mhz: int | None = None
    sockets: int | None = None
    cores_per_socket: int | None = None
    threads_per_core: int | None = None
    numa_nodes: int | None = None
    memory_mib: int | None = None
    libvirt_version: str | None = None
    hypervisor: str | None = Field(None, description="Hypervisor name and version, e.g. 'QEMU 7.2.0'")
    tools: HostTools = Field(default_factory=HostTools)
    missing: list[str] = Field(default_factory=list, description="Tools we looked for and did not find")
    backend: Backend | None = None
    libvirt_uri: str | None = None
    vm_dir: str | None = Field(None, description="Where plain-QEMU VMs live (backend qemu)")
    kvm: bool | None = Field(None, description="/dev/kvm is readable and writable for the SSH user")
    kvm_note: str | None = Field(None, description="Why KVM is not usable here, and what to do; None when it is")


class HostStatus(_Model):
    name: str
    address: str = Field(description="'local' or the SSH address")
    port: int | None = None
    user: str | None = None
    backend: str
    reachable: bool
    latency_ms: float | None = None
    error: str | None = None


class ListHostsData(_Model):
    hosts: list[HostStatus]


class ListVmsResult(_Model):
    success: bool
    message: str
    data: ListVmsData


class VmInfoResult(_Model):
    success: bool
    message: str
    data: VmDetail


class HostInfoResult(_Model):
    success: bool
    message: str
    data: HostInfo


class ListHostsResult(_Model):
    success: bool
    message: str
    data: ListHostsData


# manage_vm (issue 3): what a life-cycle action did, or would do in a dry run.
ManageAction = Literal["create", "start", "stop", "reboot", "delete", "modify", "clone"]


class CommandRecord(_Model):
    purpose: str = Field(description="What the command is for, e.g. 'creating the disk image'")
    argv: list[str] = Field(description="The exact argument vector (quoted once more only at the SSH edge)")
    stdin: str | None = Field(None, description="What was fed on stdin, e.g. the domain XML being defined")
    changes_host: bool = Field(description="False for read-only checks, which also run in a dry run")
    ran: bool = Field(description="False in a dry run: the command was planned, not run")
    abandoned: bool = Field(
        False, description="True when qemu-mcp stopped waiting (timeout, lost connection): it may still complete"
    )
    exit_status: int | None = None
    duration_s: float | None = None


class VmConfig(_Model):
    """A VM's persistent configuration and state, before or after an action."""

    status: VmStatus
    state: str
    arch: str | None = None
    machine: str | None = None
    domain_type: str | None = Field(None, description="kvm or qemu (TCG)")
    vcpus: int | None = None
    memory_mib: int | None = None
    disks: list[DiskInfo] = Field(default_factory=list)


class ManageDetails(_Model):
    dry_run: bool = False
    before: VmConfig | None = Field(None, description="The VM before the action (None for create)")
    after: VmConfig | None = Field(None, description="The VM read back after the action (None if gone)")
    requested: dict[str, int | str | None] = Field(
        default_factory=dict, description="What the call asked for, normalised (MiB, bytes)"
    )
    applied: dict[str, int | str | None] = Field(
        default_factory=dict, description="What reading the VM back showed (modify, create)"
    )
    disks_created: list[str] = Field(default_factory=list)
    disks_removed: list[str] = Field(default_factory=list)
    disks_kept: list[str] = Field(default_factory=list, description="Disk paths delete left alone, and why")
    xml: str | None = Field(None, description="The domain XML defined (or that would be defined)")
    config: str | None = Field(None, description="The vm.conf written (or that would be written; plain QEMU)")
    restart_required: bool = Field(False, description="A change applies only at the VM's next boot")
    reachable: bool | None = Field(None, description="wait_for_ip: an address or SSH answered in time (None: no wait)")
    addresses: list[AddressInfo] = Field(default_factory=list, description="wait_for_ip: the guest's addresses")
    ssh: SshEndpoint | None = Field(None, description="wait_for_ip: the SSH forward through the host, if any")
    commands: list[CommandRecord] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ManageVmData(_Model):
    host: str
    vm_name: str
    action: ManageAction
    details: ManageDetails


class ManageVmResult(_Model):
    success: bool
    message: str
    data: ManageVmData


# list_networks (issue 12): libvirt networks, or a plain-QEMU host's bridges.
class DhcpRange(_Model):
    start: str
    end: str


class NetworkAddress(_Model):
    family: Literal["ipv4", "ipv6"]
    address: str
    prefix: int | None = Field(None, description="Prefix length (a netmask is converted)")
    dhcp_ranges: list[DhcpRange] = Field(default_factory=list)


class NetworkInfo(_Model):
    host: str
    name: str
    kind: Literal["libvirt", "bridge"] = Field(
        description="libvirt: a libvirt network; bridge: a host bridge (plain-QEMU hosts), for network=bridge:<name>"
    )
    uuid: str | None = None
    active: bool = Field(description="libvirt: the network is started; bridge: the link is administratively up")
    autostart: bool | None = None
    persistent: bool | None = None
    bridge: str | None = Field(None, description="The host bridge device")
    forward_mode: str | None = Field(
        None, description="nat, route, open, bridge, ...; 'isolated' for a libvirt network without <forward>"
    )
    addresses: list[NetworkAddress] = Field(default_factory=list)
    lease_count: int | None = Field(None, description="Current DHCP leases (libvirt; None where unknown)")
    ports: list[str] | None = Field(None, description="Interfaces attached to a host bridge (bridge kind)")
    notes: list[str] = Field(default_factory=list)


class Envelope(_Model):
    """Seed 004's result envelope; a tool's result class adds its `data`."""

    success: bool
    message: str


class FleetListing(_Model):
    """What a listing of one host or of the whole inventory shares: the hosts, and each that failed."""

    host: str = Field(description="Host name, or a comma-separated list when several hosts were listed")
    errors: list[HostFailure] = Field(default_factory=list)


class ListNetworksData(FleetListing):
    network_count: int
    networks: list[NetworkInfo]


class ListNetworksResult(Envelope):
    data: ListNetworksData


# list_storage_pools (issue 12): libvirt storage pools and volumes, or a plain-QEMU host's directories.
class StoragePoolInfo(_Model):
    host: str
    name: str = Field(description="libvirt: the pool's name; plain QEMU: vm_dir or image_dir")
    kind: Literal["libvirt", "directory"]
    uuid: str | None = None
    state: str = Field(description="running, inactive, building, degraded, inaccessible; directory: running or missing")
    active: bool
    autostart: bool | None = None
    persistent: bool | None = None
    type: str | None = Field(None, description="Pool type: dir, fs, logical, netfs, ...")
    target_path: str | None = None
    capacity_bytes: int | None = None
    allocation_bytes: int | None = None
    available_bytes: int | None = None
    volume_count: int | None = Field(None, description="Volumes (images) in it; None while the pool is inactive")
    filesystem: str | None = Field(None, description="Directory kind: the filesystem it is on (df's source and type)")
    notes: list[str] = Field(default_factory=list)


class VolumeUse(_Model):
    vm: str
    target: str | None = Field(None, description="The VM's disk that uses it, e.g. vda")
    role: str = Field(description="disk, cdrom, ... (the VM's device), or backing: in the backing chain of that disk")


class VolumeInfo(_Model):
    host: str
    pool: str
    name: str
    path: str | None = None
    type: str | None = Field(None, description="file, block, dir, network, ...")
    format: str | None = Field(None, description="qcow2, raw, iso, ...")
    capacity_bytes: int | None = Field(None, description="Virtual size")
    allocation_bytes: int | None = Field(None, description="Bytes allocated on the host")
    backing_file: str | None = None
    backing_format: str | None = None
    used_by: list[VolumeUse] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ListStoragePoolsData(FleetListing):
    pool_count: int
    pools: list[StoragePoolInfo]
    volumes: list[VolumeInfo] | None = Field(None, description="The volumes of the pool asked for (pool=...)")


class ListStoragePoolsResult(Envelope):
    data: ListStoragePoolsData


# manage_snapshot (issue 12): a VM's snapshots, and what an action did (or would do in a dry run).
SnapshotAction = Literal["create", "list", "revert", "delete"]


class SnapshotInfo(_Model):
    name: str
    created: str | None = Field(None, description="When it was taken (ISO 8601, UTC)")
    parent: str | None = Field(None, description="The snapshot it was taken after (libvirt); plain QEMU's are flat")
    state: str | None = Field(None, description="The VM's state when it was taken: running, paused, shutoff, ...")
    description: str | None = None
    memory: bool = Field(description="The VM's memory is in it: reverting resumes the guest where it was")
    location: Literal["internal", "external"] = Field(
        description="internal: inside the qcow2 images; external: the disks continue in overlay files"
    )
    current: bool | None = Field(None, description="libvirt's current snapshot (the VM's state descends from it)")
    disks: list[str] = Field(default_factory=list, description="The disks (targets) it holds")
    notes: list[str] = Field(default_factory=list, description="What is odd about it, e.g. a disk it is missing on")


class SnapshotDetails(_Model):
    dry_run: bool = False
    snapshot: SnapshotInfo | None = Field(None, description="The snapshot acted on (create: as read back)")
    snapshots: list[SnapshotInfo] = Field(
        default_factory=list, description="list: the VM's snapshots, oldest first; other actions: those left after"
    )
    tree: str | None = Field(None, description="libvirt's `snapshot-list --tree`: who descends from whom")
    before: VmConfig | None = Field(None, description="revert: the VM before")
    after: VmConfig | None = Field(None, description="revert: the VM read back after")
    commands: list[CommandRecord] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ManageSnapshotData(_Model):
    host: str
    vm_name: str
    snapshot: str | None = Field(None, description="The snapshot the call named (create: its name, chosen or given)")
    action: SnapshotAction
    details: SnapshotDetails


class ManageSnapshotResult(_Model):
    success: bool
    message: str
    data: ManageSnapshotData
