"""Scheduled audits over time: history, baselines and drift, waivers, alerts, systemd units."""
