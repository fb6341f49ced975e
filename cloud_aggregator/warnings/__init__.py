"""Early warnings: per-student features from academic records, risk model, fairness audit."""
