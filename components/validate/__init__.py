"""The validation gate: schema anomalies and drift from the previous span stop a bad month."""
