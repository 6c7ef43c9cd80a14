//! The extension's `storage.managed_schema` (extension/schema.json) covers the whole
//! policy model, with exactly its key names and matching types, so an administrator
//! can set every key by browser policy and nothing else.

#![cfg(not(target_arch = "wasm32"))]

use serde_json::Value;
use swarmload_core::policy::{POLICY_KEYS, PolicyLayer};

fn schema() -> Value {
    serde_json::from_str(include_str!("../../extension/schema.json")).unwrap()
}

#[test]
fn every_policy_key_and_only_those() {
    let schema = schema();
    let props = schema["properties"].as_object().unwrap();
    let mut want: Vec<&str> = POLICY_KEYS.to_vec();
    let mut have: Vec<&str> = props.keys().map(String::as_str).collect();
    want.sort();
    have.sort();
    assert_eq!(have, want);
}

#[test]
fn schema_types_match_what_the_policy_model_accepts() {
    let schema = schema();
    for (key, prop) in schema["properties"].as_object().unwrap() {
        let sample = match prop["type"].as_str().unwrap() {
            "boolean" => Value::Bool(false),
            "integer" => Value::from(1),
            // Byte counts: numbers in the schema (Chromium keeps policy integers in
            // 32 bits), so a value beyond that must reach the model intact.
            "number" => Value::from(21_474_836_480_u64),
            "string" if key == "group_secret" => Value::from("s".repeat(32)),
            "string" => match prop.get("enum") {
                Some(Value::Array(options)) => options[0].clone(),
                _ => Value::from("x"),
            },
            "array" => match prop["items"]["type"].as_str().unwrap() {
                "string" if key == "trackers" => Value::from(vec!["wss://tracker.example"]),
                "string" => Value::from(vec!["example.org"]),
                "object" => serde_json::json!([{"urls": ["stun:192.0.2.1:3478"]}]),
                other => panic!("{key}: items of type {other}"),
            },
            other => panic!("{key}: type {other}"),
        };
        let mut layer = serde_json::Map::new();
        layer.insert(key.clone(), sample.clone());
        PolicyLayer::from_value(Value::Object(layer))
            .unwrap_or_else(|e| panic!("{key} = {sample}: {e}"));
        assert!(
            prop["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{key} has a description for administrators"
        );
    }
}
