"""What evaluate and export write for people: the misclassified gallery and the model card."""
