"""One HTTP stack for every daemon: responses, errors, RecordIO event streams."""
