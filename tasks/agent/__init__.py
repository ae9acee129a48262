"""The agent runtime. Execution reaches it only through ``tasks.agent.runtime``."""
