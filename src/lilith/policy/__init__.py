"""Policy: loading policy.yaml into frozen, compiled rules, and pure decisions over them."""
