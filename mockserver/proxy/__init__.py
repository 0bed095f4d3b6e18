"""`recoup-mock proxy`: the validating, recording reverse proxy in front of a deployment."""
