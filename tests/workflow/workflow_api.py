"""This workflow loaded through Snakemake's API, for the scripts that the workflow tests run in a process of their own.

    with loaded_workflow(CONFIG) as workflow_api:
        workflow_api._workflow.get_rule("all").input
"""

import contextlib
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def loaded_workflow(config, workdir=None):
    """The Snakefile parsed under the config file CONFIG, in WORKDIR (a new empty folder if None)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        yield api.workflow(ResourceSettings(cores=1), ConfigSettings(configfiles=[Path(config)]),
                           snakefile=REPO / "Snakefile", workdir=Path(workdir or tempfile.mkdtemp()))  # fmt: skip
