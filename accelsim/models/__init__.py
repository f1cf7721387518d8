"""Real models with real weights (optional extra accelsim[models])."""
