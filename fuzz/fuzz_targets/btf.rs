//! Kernel BTF (/sys/kernel/btf/vmlinux) parsed, and every offset the programs need looked up.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracer::fuzzing::btf(data));
