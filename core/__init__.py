"""Platform-neutral domain: configuration, policy, answers, scoring, outbox."""
