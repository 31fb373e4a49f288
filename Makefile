# `make <cmd>` runs `cargo xtask <cmd>`; pass flags through ARGS, e.g. `make test ARGS=--keep-going`.
# One line per target: xtask/src/tidy.rs checks that each maps to a `cargo xtask` command.
.DEFAULT_GOAL := help
.PHONY: help test install config bench doctor completions

help: ; @cargo xtask --help
test: ; cargo xtask test $(ARGS)
install: ; cargo xtask install $(ARGS)
config: ; cargo xtask config $(ARGS)
bench: ; cargo xtask bench $(ARGS)
doctor: ; cargo xtask doctor $(ARGS)
completions: ; cargo xtask completions $(ARGS)
