"""The demand forecast (issue 18): one global Spark MLlib GBT over every store x product,
forecasting demand (sales + lost sales) of each of the next 7 days, evaluated by a
rolling-origin backtest against seasonal naive, the 28-day mean, AutoETS and the
simulator's oracle, with split-conformal intervals. docs/models.md, "Demand forecast"."""

from retail.ml.forecast.training import TrainingResult, predict, train

__all__ = ["TrainingResult", "predict", "train"]
