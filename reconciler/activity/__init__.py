"""What each agent is doing (starting, working, idle, waiting), learnt from its signals and its screen.

Pure modules (model, patterns, screen, signals, decide) know nothing of storage or tmux; `store`
records readings in the registry and `observe` ties a runtime, the registry and the rules together.
"""
