"""The workflow's pages, one per step: Data, Pretrain."""
