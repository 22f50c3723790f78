//! One agent request line: parsed, validated, and (query, tree) answered against a fixture table.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracer::fuzzing::protocol(data));
