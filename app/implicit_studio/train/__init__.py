"""The training wing: the data-set factory (train.data), the supervised trainer, checkpoint saving."""
