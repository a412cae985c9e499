"""add_sealpack on recipes and FedJobs, the class allow-list, the provisioning builder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("nvflare")

from nvflare.apis.fl_exception import UnsafeComponentError
from nvflare.apis.workspace import Workspace
from nvflare.app_common.default_component_policy import DEFAULT_CLASS_ALLOW_LIST
from nvflare.app_common.np.recipes.fedavg import NumpyFedAvgRecipe
from nvflare.app_common.widgets.component_path_authorizer import (
    ComponentPathAuthorizer,
)
from nvflare.job_config.api import FedJob

import sealpack
from sealpack.integrations.nvflare import (
    NvflareConfigError,
    SealpackBuilder,
    add_sealpack,
    allow_sealpack_components,
)
from sealpack.integrations.nvflare.keys import KeyConfig, close_site_keys, site_keys
from tests.integrations.nvflare.sim_harness import CLIENT_SCRIPT, initial_model

FILTERS = "sealpack.integrations.nvflare.filters."


def _recipe() -> Any:
    return NumpyFedAvgRecipe(
        name="job", model=[[0.0]], min_clients=2, num_rounds=1, train_script=str(CLIENT_SCRIPT)
    )


@pytest.mark.parametrize("tasks", [["*"], ["train", "*"], ["tr*"], []])
def test_wildcard_or_empty_task_lists_are_refused(tasks: list[str]) -> None:
    with pytest.raises(NvflareConfigError):
        add_sealpack(_recipe(), keystore="/k/{site}", bundles="/b", tasks=tasks)


def test_add_sealpack_writes_filters_for_listed_tasks_and_guards_on_both_sides(
    tmp_path: Path,
) -> None:
    recipe = _recipe()
    add_sealpack(recipe, keystore="/k/{site}", bundles="/b", tasks=["train", "validate"])
    recipe.export(str(tmp_path))
    app = next(tmp_path.glob("job/app*"))
    server = json.loads((app / "config" / "config_fed_server.json").read_text())
    client = json.loads((app / "config" / "config_fed_client.json").read_text())

    def chains(config: dict[str, Any], kind: str) -> list[tuple[list[str], list[str]]]:
        return [(sorted(c["tasks"]), [f["path"] for f in c["filters"]]) for c in config[kind]]

    both = ["train", "validate"]
    assert chains(server, "task_data_filters") == [(both, [FILTERS + "SealTaskDataFilter"])]
    assert chains(server, "task_result_filters") == [(both, [FILTERS + "OpenTaskResultFilter"])]
    assert chains(client, "task_data_filters") == [(both, [FILTERS + "OpenTaskDataFilter"])]
    assert chains(client, "task_result_filters") == [(both, [FILTERS + "SealTaskResultFilter"])]
    for config in (server, client):
        guards = [c for c in config["components"] if c["id"] == "sealpack_guard"]
        assert guards and guards[0]["path"].endswith("guard.SealpackGuard")
    # sealpack is an installed app package: its source is not copied into the job.
    assert not list(tmp_path.rglob("sealpack"))
    assert "passphrase" not in json.dumps(client).lower()  # no secret-looking key names


def test_add_sealpack_accepts_a_fedjob(tmp_path: Path) -> None:
    job = FedJob(name="plain_job", min_clients=1)
    add_sealpack(job, keystore="/k/{site}", bundles="/b")
    assert "sealpack" in job.job.app_packages
    with pytest.raises(NvflareConfigError):
        add_sealpack(object(), keystore="/k/{site}", bundles="/b")


def test_class_allow_list_refuses_sealpack_until_the_site_lists_it(tmp_path: Path) -> None:
    """NVFLARE 2.9 builds installed-package components only if resources.json allows them."""
    resources = tmp_path / "local" / "resources.json"
    resources.parent.mkdir(parents=True)
    (tmp_path / "startup").mkdir()
    resources.write_text(
        json.dumps({"format_version": 2, "class_allow_list": list(DEFAULT_CLASS_ALLOW_LIST)})
    )
    workspace = Workspace(str(tmp_path), "site-1")
    component = {"path": FILTERS + "OpenTaskDataFilter", "args": {}}
    with pytest.raises(UnsafeComponentError):
        ComponentPathAuthorizer().authorize_component_config(component, workspace=workspace)

    allow_sealpack_components(resources)
    ComponentPathAuthorizer().authorize_component_config(component, workspace=workspace)
    allowed = json.loads(resources.read_text())["class_allow_list"]
    assert set(DEFAULT_CLASS_ALLOW_LIST) <= set(allowed)


def _project(tmp_path: Path) -> tuple[Any, Any]:
    server = SimpleNamespace(name="server")
    clients = [SimpleNamespace(name="site-1"), SimpleNamespace(name="site-2")]
    project = SimpleNamespace(get_server=lambda: server, get_clients=lambda: clients)
    ctx = SimpleNamespace(get_local_dir=lambda p: str(tmp_path / "kits" / p.name / "local"))
    return project, ctx


def _provision(workspace: Path, builder_args: dict[str, Any]) -> Path:
    """Run NVFLARE's own Provisioner with the workspace builder and sealpack's builder."""
    from nvflare.lighter.provision import prepare_builders, prepare_packager, prepare_project
    from nvflare.lighter.provisioner import Provisioner

    project = {
        "api_version": 3,
        "name": "proj",
        "description": "sealpack provisioning test",
        "participants": [
            {"name": "server", "type": "server", "org": "o", "fed_learn_port": 8002},
            {"name": "site-1", "type": "client", "org": "o"},
            {"name": "site-2", "type": "client", "org": "o"},
            {"name": "admin@o.org", "type": "admin", "org": "o", "role": "project_admin"},
        ],
        "builders": [
            {
                "path": "nvflare.lighter.impl.workspace.WorkspaceBuilder",
                "args": {"template_file": ["master_template.yml"]},
            },
            {
                "path": "sealpack.integrations.nvflare.provision.SealpackBuilder",
                "args": builder_args,
            },
        ],
    }
    provisioner = Provisioner(str(workspace), prepare_builders(project), prepare_packager(project))
    provisioner.provision(prepare_project(project))
    return workspace / "proj" / "prod_00"


def test_provisioning_builder_puts_keys_and_bundles_into_every_kit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISION_PASSPHRASE", "kit passphrase")
    kits = _provision(tmp_path / "ws", {"unlock_env": "PROVISION_PASSPHRASE", "scrypt_n": 1024})

    config = KeyConfig(
        keystore=str(kits / "{site}" / "local" / "sealpack_keystore"),
        bundles=str(kits / "{site}" / "local" / "sealpack_bundles"),
        unlock_env="PROVISION_PASSPHRASE",
    )
    try:
        for site in ("server", "site-1", "site-2"):
            keys = site_keys(config, site)
            assert sorted(keys.bundles) == ["server", "site-1", "site-2"]
            assert keys.store.identity.bundle().identity_key == keys.bundle(site).identity_key
    finally:
        close_site_keys()


def test_provisioning_builder_can_only_distribute_bundles(tmp_path: Path) -> None:
    given = tmp_path / "given"
    given.mkdir()
    for site in ("server", "site-1", "site-2"):
        bundle = sealpack.Identity.generate(site, one_time_prekeys=1).bundle()
        (given / f"{site}.json").write_text(bundle.to_json())
    project, ctx = _project(tmp_path)
    SealpackBuilder(bundles_dir=str(given)).build(project, ctx)
    kit = tmp_path / "kits" / "site-2" / "local"
    assert sorted(p.name for p in (kit / "sealpack_bundles").iterdir()) == [
        "server.json",
        "site-1.json",
        "site-2.json",
    ]
    assert not (kit / "sealpack_keystore").exists()
    (given / "site-1.json").unlink()
    with pytest.raises(NvflareConfigError, match="site-1"):
        SealpackBuilder(bundles_dir=str(given)).build(project, ctx)


def test_missing_passphrase_variable_is_a_config_error(
    flare_keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(flare_keys["unlock_env"])
    config = KeyConfig(flare_keys["keystore"], flare_keys["bundles"], flare_keys["unlock_env"])
    with pytest.raises(NvflareConfigError, match=flare_keys["unlock_env"]):
        site_keys(config, "site-1")


def test_a_bundle_of_another_key_for_this_site_is_a_config_error(
    flare_keys: dict[str, Any],
) -> None:
    other = sealpack.Identity.generate("site-1", one_time_prekeys=1).bundle()
    Path(flare_keys["bundles"], "site-1.json").write_text(other.to_json())
    config = KeyConfig(flare_keys["keystore"], flare_keys["bundles"], flare_keys["unlock_env"])
    with pytest.raises(NvflareConfigError, match="site-1"):
        site_keys(config, "site-1")


def test_importing_the_integration_does_not_import_nvflare() -> None:
    code = (
        "import sys, sealpack.integrations.nvflare as n; "
        "assert 'nvflare' not in sys.modules; n.add_sealpack; assert 'nvflare' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_initial_model_is_not_trivial() -> None:
    assert initial_model().std() > 1  # the tap's needle must be distinctive bytes
