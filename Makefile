# For people: the two set-up commands are `make demo` and `make test`. The first build installs
# what DEPS lists and the machine lacks (tools/deps.sh: as root through apt-get, else it prints
# the apt-get line to run and stops).
BUILD ?= build
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

# Every Debian package the build, the tests and the benchmarks need: one list, in one place.
DEPS = cmake make gcc pkg-config git ca-certificates \
  liblua5.4-dev lua5.4 lua-cjson-dev libcurl4-openssl-dev libarchive-dev libext2fs-dev \
  libssl-dev zlib1g-dev libzstd-dev libjansson-dev libisal-dev isal \
  e2fsprogs docker-registry skopeo umoci python3 busybox dash zstd gzip valgrind openssl file \
  groff-base tar mount util-linux python3-jsonschema \
  mmdebstrap qemu-system-x86 time bc clang libclang-rt-14-dev \
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static \
  liblzma-dev liblz4-dev xz-utils lz4

.PHONY: all build deps test test-boot demo install sanitize fuzz fuzz-smoke fuzz-build clean

all: build

deps:
	@sh tools/deps.sh $(DEPS)

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE boot

test-boot: build
	cd $(BUILD) && ctest --output-on-failure -L boot

# The main job, offline: the default recipe on the demo image made from examples/demo, with a
# cache of its own in the build directory; then e2fsck checks the result.
demo: build
	cmake --build $(BUILD) --target demo-image
	$(BUILD)/banger-build default image=oci:$(BUILD)/demo/oci:demo \
	  out=$(BUILD)/demo.ext4 --cache-dir $(BUILD)/demo/cache
	$$(command -v e2fsck || echo /sbin/e2fsck) -fn $(BUILD)/demo.ext4

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The unit tests under ASan and UBSan, in a build directory of their own.
sanitize: deps
	$(MAKE) BUILD=build-asan CMAKE_FLAGS="-DBANGER_SANITIZE=address,undefined -DBANGER_WERROR=ON" build
	cd build-asan && ctest --output-on-failure -j $(JOBS) -L unit

# Coverage-guided fuzzing (libFuzzer, clang): every target in tests/fuzz for FUZZ_SECONDS each,
# in build-fuzz (corpora grow in build-fuzz/fuzz-corpus). fuzz-smoke replays the seeds and the
# reproducers of fixed bugs and makes a short fixed-seed run: quick and deterministic, for CI.
FUZZ_SECONDS ?= 30
fuzz-build: deps
	CC=clang cmake -S . -B build-fuzz -DBANGER_FUZZ=ON -DBANGER_WERROR=ON
	cmake --build build-fuzz --target fuzzers -j $(JOBS)

fuzz: fuzz-build
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	tests/fuzz/run.sh build-fuzz smoke

clean:
	rm -rf $(BUILD) build-asan build-fuzz
