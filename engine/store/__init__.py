"""What is kept on disk between sessions: run folders, and each image folder's project (classes and labels)."""
