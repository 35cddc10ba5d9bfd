"""The execution engine under the loss contract."""
