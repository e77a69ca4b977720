# The README's commands. Each target is a script under hack/ so it also runs without make.
.PHONY: demo test bench fuzz fmt lint crds docs testbed-bins

demo:        ## Boot a host + 2 member clusters, install kubefed, join the members, show them.
	bash hack/demo.sh

test:        ## Everything CI runs: tools, testbed binaries, fmt, clippy, unit and end-to-end tests.
	bash hack/test.sh

bench:       ## Benchmarks that print figures (see docs/benchmarks.md).
	bash hack/bench.sh

fuzz:        ## Every cargo-fuzz target for 30 s each (SECONDS_PER_TARGET=3600 make fuzz for longer; docs/fuzzing.md).
	bash hack/fuzz.sh $${SECONDS_PER_TARGET:-30}

fmt:
	cargo fmt --all

lint:
	. hack/env.sh && cargo clippy --workspace --all-targets -- -D warnings

docs:        ## Regenerate docs/commands (each kubectl fed command's --help).
	. hack/env.sh && UPDATE_DOCS=1 cargo test -p kubectl-fed --test docs_in_sync

crds:        ## Regenerate charts/kubefed/crds and files/federatedtypeconfigs.yaml from the Rust types.
	. hack/env.sh && UPDATE_CRDS=1 cargo test -p kubefed-core --test crds_in_sync

testbed-bins: ## Build kube-apiserver, kube-controller-manager, kubectl, etcd and helm into the cache.
	bash tests/testbed/build-bins.sh all
