"""Ray Serve: the risk and recommendation deployments and deploy/rollback of model versions."""
