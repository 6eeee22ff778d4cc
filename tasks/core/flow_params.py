"""The `flow` section of params.yaml: how the Prefect flow runs the stages (no stage reads it)."""
from __future__ import annotations

from pydantic import Field

from tasks.core.section import Section as _Section


class Timeouts(_Section):
    """Seconds each stage may run under the Prefect flow before it is stopped and fails."""
    download: int = Field(3600, ge=1, strict=True)
    split: int = Field(600, ge=1, strict=True)
    validate_: int = Field(1800, ge=1, strict=True, alias="validate")
    train: int = Field(86_400, ge=1, strict=True)
    evaluate: int = Field(1800, ge=1, strict=True)
    export: int = Field(3600, ge=1, strict=True)

    def of(self, stage: str) -> int:
        """The timeout of a stage, by its DVC name."""
        return self.model_dump(by_alias=True)[stage]


class Flow(_Section):
    """How the Prefect flow runs the stages. No DVC stage lists these keys, so changing one
    reruns nothing."""
    cron: str = Field("0 3 * * *", pattern=r"^\S+( \S+){4}$")  # five fields; Prefect checks the rest
    compare_to: str = Field("main", min_length=1)  # git rev for the metrics-diff artifact
    download_retries: int = Field(2, ge=0, le=10, strict=True)
    lock_wait: int = Field(3600, ge=0, strict=True)  # seconds a run waits for one holding the lock
    push: bool = Field(False, strict=True)  # `dvc push` to the default remote after a successful run
    timeouts: Timeouts = Timeouts()
