"""Images in: scanning a folder, decoding files, the decoded store, and batched augmentation."""
