"""The audit trail: one JSON record per decision, written before the decision takes effect."""
