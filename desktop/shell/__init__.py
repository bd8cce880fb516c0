"""The application shell: the main window, its menus, settings, theme, logging and self-test."""
