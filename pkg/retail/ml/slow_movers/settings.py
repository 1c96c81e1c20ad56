"""Settings of the slow-mover classifier. Environment: ``RETAIL_SLOW_MOVERS__*``."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class SlowMoverSettings(BaseModel):
    """The classifier's horizon, its time-based evaluation, the forest and the markdown
    rules (docs/slow_movers.md)."""

    model_config = {"extra": "forbid", "frozen": True}

    # Non-perishables must sell their stock within this many days (perishables: shelf life).
    max_horizon_days: int = Field(60, ge=7, le=365)
    # Days after the run date a label is judged on: min(horizon, label_days); a longer
    # horizon is projected at the same rate (sold in the window < on hand x window/horizon).
    label_days: int = Field(14, ge=3, le=365)
    # Days of history the training reads before the run date (origins and elasticity).
    history_days: int = Field(120, ge=28, le=730)
    # Origins are feature-store days at least this far apart (weekly by default).
    origin_step_days: int = Field(7, ge=1, le=28)
    # The newest labelled origins held out as the evaluation window ("the last weeks").
    eval_origins: int = Field(2, ge=1, le=12)
    # The random forest.
    num_trees: int = Field(100, ge=1, le=1000)
    max_depth: int = Field(6, ge=1, le=20)
    min_instances_per_node: int = Field(5, ge=1)
    # features tried at each split (Spark's featureSubsetStrategy: auto, all, onethird,
    # sqrt, log2, or a number / share)
    feature_subset_strategy: str = Field("sqrt", pattern=r"^(auto|all|onethird|sqrt|log2|"
                                                          r"[0-9]+|0?\.[0-9]+)$")
    seed: int = 19
    # Markdowns: depths tried in steps of markdown_step up to max_markdown.
    markdown_step: float = Field(0.05, gt=0, le=0.5)
    max_markdown: float = Field(0.5, gt=0, lt=1)
    # the elasticity used where a category has too few promotions to estimate its own
    default_elasticity: float = Field(-1.5, lt=0)
    min_promotions: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _step_within_cap(self) -> SlowMoverSettings:
        if self.markdown_step > self.max_markdown:
            raise ValueError(f"markdown_step {self.markdown_step} is above max_markdown "
                             f"{self.max_markdown}")
        return self
