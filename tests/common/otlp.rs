//! Reading OTLP attributes in the tests' receivers (HTTP and gRPC).

use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, KeyValue};

/// The value of attribute `key`, if present.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// The string attribute `key`; fails the test otherwise.
pub fn string(attributes: &[KeyValue], key: &str) -> String {
    match attribute(attributes, key) {
        Some(Any::StringValue(s)) => s.clone(),
        other => panic!("{key} is not a string: {other:?} in {attributes:?}"),
    }
}

/// The integer attribute `key`; fails the test otherwise.
pub fn int(attributes: &[KeyValue], key: &str) -> i64 {
    match attribute(attributes, key) {
        Some(Any::IntValue(i)) => *i,
        other => panic!("{key} is not an int: {other:?} in {attributes:?}"),
    }
}
