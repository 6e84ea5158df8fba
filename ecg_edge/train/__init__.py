"""Training, evaluation and self-supervised pretraining."""
