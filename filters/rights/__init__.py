"""Rights and provenance: licence detection, AI opt-out signals and the policy that acts on them."""
