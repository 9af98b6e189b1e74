"""containers.podman.podman with pipelining, for the test bench's containers.

The collection's podman connection runs five `podman exec` per task (home
directory, temporary directory, chmod, module, cleanup) because it declares no
pipelining: `podman exec` without --interactive does not pass stdin. With
--interactive it does, and a module then runs in one `podman exec` that reads it
from stdin. Measured on this bench (Debian 12, podman 4.3, runc, a busy 2-core
host): ten `stat` tasks took 37.8 s with the stock plugin, 18.0 s with this one.

Used by the molecule scenarios and scripts/demo (ansible_connection:
podman_pipelined, with pipelining on); everything else is the collection's
plugin, whose options it keeps.
"""

from __future__ import annotations

from ansible_collections.containers.podman.plugins.connection.podman import Connection as _PodmanConnection

DOCUMENTATION = """
    name: podman_pipelined
    short_description: The podman connection, with pipelining (capibara6 test bench)
    description:
      - containers.podman.podman that runs modules through C(podman exec --interactive)
        with pipelining, one exec per module instead of five.
    options:
      remote_addr:
        description: The container to run in.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: The user to run as inside the container.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments to pass to the podman command line.
        default: ''
        ini:
          - section: defaults
            key: podman_extra_args
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description: Executable for the podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
"""


class Connection(_PodmanConnection):
    transport = "podman_pipelined"
    has_pipelining = True

    def _podman(self, cmd, cmd_args=None, in_data=None, use_container_id=True):
        # A module sent on stdin (pipelining) needs `podman exec --interactive`.
        if in_data is not None and isinstance(cmd, (list, tuple)) and cmd and cmd[0] == "exec":
            cmd = ["exec", "--interactive", *cmd[1:]]
        return super()._podman(cmd, cmd_args, in_data, use_container_id)
