"""The wearable-class targets `compress --target` budgets against and `simulate` runs on."""

from ecg_edge.targets.registry import TARGETS, Target, get_target

__all__ = ["TARGETS", "Target", "get_target"]
