"""Self-supervised pretraining: the loop, its session, state and schedule, and one module per method."""
