"""Control plane: who may change the meter, and the tamper-evident record of what changed."""
