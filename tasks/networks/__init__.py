"""Networks and augmentation: pure builders from the train config to Keras objects."""
