"""Few-label fine-tuning: a pretrained backbone and a handful of labels become a classifier."""
