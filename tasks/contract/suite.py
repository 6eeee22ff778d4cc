"""The image-split data contract, as Great Expectations 1.x suites.

Each rule is one GX expectation over a table: one row per image (facts from the manifest and a
full decode), or one row per (split, class) for the counts. GX evaluates them, names the failing
rows, and renders the Data Docs site a user opens in a browser.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from tasks.core.config import Params
from tasks.core.paths import LABELS, SPLITS

LEAKAGE = "no identical image in two splits (leakage)"


@dataclass(frozen=True)
class Outcome:
    success: bool
    evaluated: int
    passed: int
    failures: list[dict[str, object]] = field(default_factory=list)
    warnings: list[dict[str, object]] = field(default_factory=list)
    report: dict[str, object] = field(default_factory=dict)


def image_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    """One row per image, with the derived columns the expectations read."""
    df = pd.DataFrame(rows)
    df["min_side"] = df[["width", "height"]].astype(int).min(axis=1)
    df["pixels"] = df["width"].astype(int) * df["height"].astype(int)
    # Number of distinct splits holding the same bytes: above 1 is train/test leakage.
    df["sha256_splits"] = df.groupby("sha256")["split"].transform("nunique")
    df["sha256_in_split"] = df.groupby(["split", "sha256"])["path"].transform("size")
    return df


def count_table(images: pd.DataFrame, params: Params) -> pd.DataFrame:
    """One row per (split, class) -- missing classes included, with count 0. `minimum` is what
    quarantine may leave: min_fraction of the request, rounded up."""
    expected = {"train": params.split.train, "validation": params.split.validation,
                "test": params.split.test}
    counts = images.groupby(["split", "label"]).size()
    return pd.DataFrame([{"split": s, "label": label, "count": int(counts.get((s, label), 0)),
                          "expected": expected[s],
                          "minimum": math.ceil(params.validate.min_fraction * expected[s] - 1e-9)}
                         for s in SPLITS for label in LABELS])


def image_rules(params: Params) -> list[gxe.Expectation]:
    cfg = params.validate
    return [
        gxe.ExpectColumnValuesToBeNull(column="decode_error", description="every file decodes fully"),
        gxe.ExpectColumnValuesToBeInSet(column="real_format", value_set=["JPEG"],
                                        description="the real format (magic bytes) is JPEG"),
        gxe.ExpectColumnValuesToBeInSet(column="mode", value_set=list(cfg.allowed_modes),
                                        description=f"the colour mode is one of {list(cfg.allowed_modes)}"),
        gxe.ExpectColumnValuesToBeBetween(column="min_side", min_value=cfg.min_side,
                                          description=f"the shortest side is at least {cfg.min_side} px"),
        gxe.ExpectColumnValuesToBeBetween(column="pixels", max_value=cfg.max_pixels,
                                          description=f"at most {cfg.max_pixels} pixels (bomb cap)"),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="label", column_B="name_label",
                                            description="the folder and the file name agree on the label"),
        gxe.ExpectColumnValuesToBeBetween(column="sha256_splits", max_value=1,
                                          description=LEAKAGE),
        gxe.ExpectColumnValuesToBeBetween(column="sha256_in_split", max_value=1, severity="warning",
                                          description="no identical image twice in one split"),
    ]


def count_rules(after_quarantine: bool) -> list[gxe.Expectation]:
    """Exact counts (so classes balance), or, after a quarantine, at least the minimum."""
    if not after_quarantine:
        return [gxe.ExpectColumnPairValuesToBeEqual(
            column_A="count", column_B="expected",
            description="each split holds exactly the requested images per class (so classes balance)")]
    return [gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A="count", column_B="minimum", or_equal=True,
        description="after quarantine, each split keeps at least validate.min_fraction per class")]


def context(docs_dir: Path) -> gx.data_context.AbstractDataContext:
    """An in-memory GX context whose Data Docs site is built under `docs_dir`."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # Our own config: get_context(mode="ephemeral") alone adds a Data Docs site in a fresh /tmp
    # folder, built at every run and never removed.
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={"local": {
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(docs_dir.resolve())}}})
    return gx.get_context(mode="ephemeral", project_config=config)


def _validate(ctx, name: str, df: pd.DataFrame, rules: list[gxe.Expectation],
              index: list[str]) -> list[dict[str, object]]:
    asset = ctx.data_sources.add_pandas(f"{name}_source").add_dataframe_asset(name)
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"{name}_contract", expectations=rules))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(
        name=name, data=asset.add_batch_definition_whole_dataframe(name), suite=suite))
    checkpoint = ctx.checkpoints.add(gx.Checkpoint(
        name=f"{name}_checkpoint", validation_definitions=[vd],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index}))
    results = checkpoint.run(batch_parameters={"dataframe": df})
    out = []
    for run in results.run_results.values():
        for r in run.results:
            bad = r.result.get("unexpected_index_list") or []
            files = ["/".join(str(v[c]) for c in index) for v in bad]
            out.append({"table": name, "check": r.expectation_config.description,
                        "severity": str(r.expectation_config.severity.value),
                        "expectation": r.expectation_config.type, "success": bool(r.success),
                        "count": int(r.result.get("unexpected_count") or len(files)),
                        "files": files})
    return out


def check(rows: list[dict[str, object]], params: Params, ctx, after_quarantine: bool = False
          ) -> Outcome:
    """Run both suites over `rows` in `ctx` (see `context`), adding them to its Data Docs."""
    images = image_table(rows)
    tag = "_after_quarantine" if after_quarantine else ""
    results = _validate(ctx, f"images{tag}", images, image_rules(params), ["path"])
    results += _validate(ctx, f"counts{tag}", count_table(images, params),
                         count_rules(after_quarantine), ["split", "label"])
    failures = [r for r in results if not r["success"] and r["severity"] == "critical"]
    warnings = [r for r in results if not r["success"] and r["severity"] != "critical"]
    return Outcome(not failures, len(results), len(results) - len(failures) - len(warnings),
                   failures, warnings, {"success": not failures, "images": len(images),
                                        "results": results})
