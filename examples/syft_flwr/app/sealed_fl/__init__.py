"""A numpy FedAvg Flower app, run by syft-flwr and sealed by sealpack."""
