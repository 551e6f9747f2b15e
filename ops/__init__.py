"""Operations: installation, training, and the process supervisor behind `make run`."""
