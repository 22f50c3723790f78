//! A /proc file's content through its parser (the first byte picks which).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracer::fuzzing::proc_file(data));
