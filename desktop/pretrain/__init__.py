"""Step 2, Pretrain: the form, the live charts and the torchrun command."""
