//! One ring-buffer record from the kernel programs, decoded into an Event.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracer::fuzzing::ring_record(data));
