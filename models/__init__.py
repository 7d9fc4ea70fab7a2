"""Models served by Ray Serve: injury risk, workout recommendation and regional promo codes.

torch is imported only by models.risk, models.recommend and models.train; models.features and
models.promo are plain msgspec/numpy, so other processes can build inputs without torch.
"""
