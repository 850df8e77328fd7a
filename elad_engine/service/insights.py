"""The metrics area of the service: accuracy against teacher cost for several projects, the starting students, the
training runs and their loss curves, the per-round table,
selection scores, reviewer statistics and agreement, where the teacher's first error falls, and the efficiency
benchmark's curves."""

from __future__ import annotations

from pathlib import Path

from .. import metrics
from ..accounts import Permission
from .access import Area, action


class MetricsArea(Area):
    @action(Permission.READ)
    def frame(self, project_ids: list[int]) -> list[dict]:
        """One row per evaluated round of each project: accuracy, multi-step accuracy, tokens, dollars, reviews."""
        return metrics.metrics_frame(self.store, project_ids)

    @action(Permission.READ)
    def baselines(self, project_ids: list[int]) -> list[dict]:
        """Each project's starting student's test accuracy, before the warm-up (a reference line on the plots)."""
        return metrics.baselines(self.store, project_ids)

    @action(Permission.READ)
    def training(self, project_id: int) -> list[dict]:
        """One row per trained round: method, samples, steps, tokens, seconds, final loss."""
        return metrics.training_table(self.store, project_id)

    @action(Permission.READ)
    def losses(self, project_id: int, rnd: int | None = None) -> list[dict]:
        """{round, step, loss} of every training run (live while one runs)."""
        return metrics.loss_curves(self.store, project_id, rnd)

    @action(Permission.READ)
    def table_text(self, project_id: int) -> str:
        """The per-round table as text, as the CLI prints it."""
        return metrics.metrics_text(self.store, project_id)

    @action(Permission.READ)
    def score_histogram(self, project_id: int) -> list[dict]:
        return metrics.score_histogram(self.store, project_id)

    @action(Permission.READ)
    def reviewers(self, project_id: int) -> list[dict]:
        return metrics.reviewer_stats(self.store, project_id)

    @action(Permission.READ)
    def agreement(self, project_id: int) -> dict:
        return metrics.agreement(self.store, project_id)

    @action(Permission.READ)
    def first_errors(self, project_id: int) -> list[dict]:
        return metrics.first_error_positions(self.store, project_id)

    @action(Permission.READ)
    def benchmark_curves(self, path: str | Path) -> list[dict] | None:
        """The efficiency benchmark's CSV on the server as mean curves; None when there is no such file."""
        return metrics.benchmark_curves(path) if Path(path).exists() else None
