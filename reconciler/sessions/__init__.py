"""Everything about one session: its ID, environment, agent argv, prompts and workspace."""
