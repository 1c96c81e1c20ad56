"""The closed loop's business outcome: the simulated chain ordering by its fixed policy or by
the platform's recommendations, measured from each day's stock ledger."""
