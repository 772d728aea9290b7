"""Evidence: the per-probe evidence files (written and read back in one module), redaction,
the signed manifest, packs, and offline re-judging."""
