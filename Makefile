# `make <cmd>` runs `cargo xtask <cmd>`; pass flags through ARGS, e.g. `make test ARGS=--keep-going`.
# One line per target: xtask/src/tidy.rs checks that each maps to a `cargo xtask` command.
.DEFAULT_GOAL := help
.PHONY: help test install config bench doctor sandbox docker demo test-local completions

help: ; @cargo xtask --help
test: ; cargo xtask test $(ARGS)
install: ; cargo xtask install $(ARGS)
config: ; cargo xtask config $(ARGS)
bench: ; cargo xtask bench $(ARGS)
doctor: ; cargo xtask doctor $(ARGS)
sandbox: ; cargo xtask sandbox $(ARGS)
docker: ; cargo xtask docker $(ARGS)
demo: ; cargo xtask demo $(ARGS)
test-local: ; cargo xtask test-local $(ARGS)
completions: ; cargo xtask completions $(ARGS)
