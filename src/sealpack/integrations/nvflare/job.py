"""Add sealpack to an NVFLARE recipe or FedJob in one call, and allow it on the sites.

``add_sealpack(recipe, keystore=..., bundles=...)`` puts the four filters on the task
names given (NVFLARE has no wildcard for filters: ``tasks=["*"]`` is refused here),
the guard on the server and on every client, and marks ``sealpack`` as an installed
app package so FedJob does not copy sealpack's source into the job's ``custom/``.

NVFLARE 2.9 builds only allow-listed component classes from installed packages:
each site's ``local/resources.json`` must list ``sealpack.integrations.nvflare`` in
``class_allow_list`` (:func:`allow_sealpack_components` does it for one file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nvflare.job_config.api import FedJob
from nvflare.job_config.defs import FilterType

from sealpack.integrations.nvflare.errors import NvflareConfigError
from sealpack.integrations.nvflare.filters import (
    OpenTaskDataFilter,
    OpenTaskResultFilter,
    SealTaskDataFilter,
    SealTaskResultFilter,
)
from sealpack.integrations.nvflare.guard import SealpackGuard
from sealpack.integrations.nvflare.keys import DEFAULT_PASSPHRASE_ENV

__all__ = ["ALLOW_LIST_ENTRY", "GUARD_ID", "add_sealpack", "allow_sealpack_components"]

ALLOW_LIST_ENTRY = "sealpack.integrations.nvflare"
GUARD_ID = "sealpack_guard"


def _task_names(tasks: Sequence[str]) -> list[str]:
    names = list(tasks) if not isinstance(tasks, str) else [tasks]
    if not names or not all(isinstance(name, str) and name for name in names):
        raise NvflareConfigError("tasks must be a non-empty list of task names")
    if any("*" in name for name in names):
        raise NvflareConfigError(
            "NVFLARE looks task filters up by exact task name: tasks=['*'] would match no "
            "task and leave the job unsealed; list the task names (e.g. ['train'])"
        )
    return names


def _job_of(target: Any) -> FedJob:
    job = target if isinstance(target, FedJob) else getattr(target, "_job", None)
    if not isinstance(job, FedJob):
        raise NvflareConfigError("add_sealpack needs an NVFLARE Recipe or FedJob")
    return job


def _add_app_package(job: FedJob) -> None:
    current = list(getattr(job.job, "app_packages", None) or [])
    if "sealpack" not in current:
        job.set_app_packages([*current, "sealpack"])


def add_sealpack(
    recipe_or_job: Any,
    *,
    keystore: str,
    bundles: str,
    unlock_env: str = DEFAULT_PASSPHRASE_ENV,
    server: str = "server",
    tasks: Sequence[str] = ("train",),
    peer_mode: bool = False,
) -> None:
    """Seal every task and result of ``tasks`` end to end, and fail closed otherwise.

    Args:
        recipe_or_job: an NVFLARE Recipe (e.g. ``NumpyFedAvgRecipe``) or ``FedJob``.
        keystore: each site's KeyStore directory; ``{site}`` is the site name.
        bundles: directory of every site's KeyBundle JSON (``{site}`` allowed).
        unlock_env: name of the variable holding the passphrase on each site.
        server: the server's site name.
        tasks: the task names the workflow sends (no wildcards).
        peer_mode: client-to-client workflows (Cyclic): results are sealed for the
            other clients and the server relays them without opening them.

    Raises:
        NvflareConfigError: a wildcard or empty task list, or not a recipe/job.
    """
    names = _task_names(tasks)
    job = _job_of(recipe_or_job)
    args: dict[str, Any] = {
        "keystore": keystore,
        "bundles": bundles,
        "unlock_env": unlock_env,
        "server": server,
        "peer_mode": peer_mode,
    }
    _add_app_package(job)
    job.to_server(SealTaskDataFilter(**args), filter_type=FilterType.TASK_DATA, tasks=names)
    job.to_server(OpenTaskResultFilter(**args), filter_type=FilterType.TASK_RESULT, tasks=names)
    job.to_server(SealpackGuard(server=server, peer_mode=peer_mode), id=GUARD_ID)
    client_objects: list[tuple[Any, dict[str, Any]]] = [
        (OpenTaskDataFilter(**args), {"filter_type": FilterType.TASK_DATA, "tasks": names}),
        (SealTaskResultFilter(**args), {"filter_type": FilterType.TASK_RESULT, "tasks": names}),
        (SealpackGuard(server=server, peer_mode=peer_mode), {"id": GUARD_ID}),
    ]
    add_to_clients = getattr(recipe_or_job, "_add_to_client_apps", None)
    for obj, kwargs in client_objects:
        if callable(add_to_clients):
            add_to_clients(obj, **kwargs)  # keeps a recipe's per-site client apps
        else:
            job.to_clients(obj, **kwargs)


def allow_sealpack_components(resources_file: str | os.PathLike[str]) -> None:
    """Add ``sealpack.integrations.nvflare`` to a site's ``class_allow_list``.

    Creates the file (format_version 2, NVFLARE's default allow list plus sealpack)
    when it does not exist. A list holding ``"*"`` is left alone.

    Args:
        resources_file: the site's ``local/resources.json`` (or ``.json.default``).

    Raises:
        NvflareConfigError: the file is not a JSON object.
    """
    from nvflare.app_common.default_component_policy import DEFAULT_CLASS_ALLOW_LIST

    path = Path(resources_file)
    resources: Any = {"format_version": 2}
    if path.exists():
        try:
            resources = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise NvflareConfigError(f"cannot read {str(path)!r} as JSON") from exc
    if not isinstance(resources, dict):
        raise NvflareConfigError(f"{str(path)!r} must hold a JSON object")
    allow = list(resources.get("class_allow_list") or DEFAULT_CLASS_ALLOW_LIST)
    if "*" not in allow and ALLOW_LIST_ENTRY not in allow:
        allow.append(ALLOW_LIST_ENTRY)
    resources["class_allow_list"] = allow
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(resources, indent=4))
