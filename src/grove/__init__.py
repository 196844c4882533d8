"""grove: evergreen git worktrees with isolated runtimes."""

__version__ = "0.1.0"
