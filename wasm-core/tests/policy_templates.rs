//! The enterprise policy templates in `manifests/policy/` set the extension's
//! managed settings the way each platform reads them; every template sets every key
//! of the policy model, and the policy model accepts what it sets. The templates
//! also force-install the extension and allow its native host.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value, json};
use swarmload_core::policy::{Policy, PolicyLayer};

const CHROMIUM_ID: &str = "npnpfokgckelonahjkkjnlcbpagfeefp";
const FIREFOX_ID: &str = "swarmload@swarmload.org";
const HOST: &str = "org.swarmload.host";

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests/policy")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn schema_keys() -> Vec<String> {
    let schema: Value = serde_json::from_str(include_str!("../../extension/schema.json")).unwrap();
    let mut keys: Vec<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        // A template cannot carry a group's secret: each enterprise makes its own
        // (docs/enterprise.md, "Trusted groups").
        .filter(|k| *k != "group_secret")
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Every key of the model is set, nothing else, and the model takes the values.
fn assert_complete_and_valid(what: &str, settings: &Value) -> Policy {
    let obj = settings
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object"));
    let mut keys: Vec<String> = obj.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, schema_keys(), "{what}: the keys set");
    let layer = PolicyLayer::from_value(settings.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    Policy::resolve(&[layer])
}

#[test]
fn linux_managed_json_for_the_chromium_family() {
    let v: Value = serde_json::from_str(&read("linux/swarmload.json")).unwrap();
    assert_eq!(
        v["ExtensionSettings"][CHROMIUM_ID]["installation_mode"],
        "force_installed"
    );
    assert!(v["ExtensionSettings"][CHROMIUM_ID]["update_url"].is_string());
    assert_eq!(v["NativeMessagingAllowlist"], json!([HOST]));
    let p = assert_complete_and_valid("linux", &v["3rdparty"]["extensions"][CHROMIUM_ID]);
    assert_eq!(p.group_id.as_deref(), Some("corp-example"));
}

#[test]
fn firefox_policies_json() {
    let v: Value = serde_json::from_str(&read("firefox/policies.json")).unwrap();
    let p = &v["policies"];
    assert_eq!(
        p["ExtensionSettings"][FIREFOX_ID]["installation_mode"],
        "force_installed"
    );
    assert!(p["ExtensionSettings"][FIREFOX_ID]["install_url"].is_string());
    assert_complete_and_valid("firefox", &p["3rdparty"]["Extensions"][FIREFOX_ID]);
}

fn plist_to_json(v: &plist::Value) -> Value {
    match v {
        plist::Value::Boolean(b) => json!(b),
        plist::Value::Integer(i) => json!(i.as_unsigned().expect("a non-negative integer")),
        plist::Value::String(s) => json!(s),
        plist::Value::Array(a) => Value::Array(a.iter().map(plist_to_json).collect()),
        plist::Value::Dictionary(d) => Value::Object(
            d.iter()
                .map(|(k, v)| (k.clone(), plist_to_json(v)))
                .collect(),
        ),
        other => panic!("unexpected plist value {other:?}"),
    }
}

#[test]
fn macos_configuration_profile() {
    let profile = plist::Value::from_file(path("macos/swarmload.mobileconfig")).unwrap();
    let profile = plist_to_json(&profile);
    let payloads = profile["PayloadContent"].as_array().unwrap();
    let of_type = |t: &str| {
        payloads
            .iter()
            .find(|p| p["PayloadType"] == t)
            .unwrap_or_else(|| panic!("no {t} payload"))
    };
    let chrome = of_type("com.google.Chrome");
    assert_eq!(
        chrome["ExtensionSettings"][CHROMIUM_ID]["installation_mode"],
        "force_installed"
    );
    assert_eq!(chrome["NativeMessagingAllowlist"], json!([HOST]));
    let mut settings = of_type(&format!("com.google.Chrome.extensions.{CHROMIUM_ID}")).clone();
    settings
        .as_object_mut()
        .unwrap()
        .retain(|k, _| !k.starts_with("Payload"));
    assert_complete_and_valid("macos", &settings);
}

/// A `.reg` file as keys → (value name → value); `dword:` values become numbers.
fn parse_reg(text: &str) -> BTreeMap<String, Map<String, Value>> {
    let mut keys: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(';') || line.starts_with("Windows Registry") {
            continue;
        }
        if let Some(k) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            keys.entry(k.to_string()).or_default();
            current = Some(k.to_string());
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("bad line {line}"));
        let name = name.trim_matches('"').to_string();
        let value = if let Some(hex) = value.strip_prefix("dword:") {
            json!(u32::from_str_radix(hex, 16).unwrap())
        } else {
            let s = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap();
            json!(s.replace("\\\"", "\"").replace("\\\\", "\\"))
        };
        keys.get_mut(current.as_ref().unwrap())
            .unwrap()
            .insert(name, value);
    }
    keys
}

#[test]
fn windows_registry_file_for_chrome_edge_and_brave() {
    let bytes = std::fs::read(path("windows/swarmload.reg")).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let keys = parse_reg(&text);
    for root in [
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Google\Chrome",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Edge",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\BraveSoftware\Brave",
    ] {
        let ext: Value =
            serde_json::from_str(keys[root]["ExtensionSettings"].as_str().unwrap()).unwrap();
        assert_eq!(
            ext[CHROMIUM_ID]["installation_mode"], "force_installed",
            "{root}"
        );
        assert_eq!(
            keys[&format!(r"{root}\NativeMessagingAllowlist")]["1"],
            HOST
        );
        // The policy key's values, and its subkeys as lists ("1", "2"… in order).
        let policy = format!(r"{root}\3rdparty\extensions\{CHROMIUM_ID}\policy");
        let mut settings = keys[&policy].clone();
        for (key, values) in &keys {
            if let Some(list) = key.strip_prefix(&format!(r"{policy}\")) {
                let items: Vec<Value> = (1..=values.len())
                    .map(|i| {
                        let v = values[&i.to_string()].as_str().unwrap();
                        // Object items are JSON strings.
                        serde_json::from_str(v).unwrap_or_else(|_| json!(v))
                    })
                    .collect();
                settings.insert(list.to_string(), Value::Array(items));
            }
        }
        // Booleans are DWORDs 0 / 1 in the registry; the browser converts them by
        // the schema, as does this test.
        for b in ["enabled", "upload_enabled", "browser_seeding"] {
            let on = settings[b] == json!(1);
            settings.insert(b.into(), json!(on));
        }
        assert_complete_and_valid(root, &Value::Object(settings));
    }
}

#[test]
fn admx_and_adml_cover_every_setting_in_every_browser() {
    let admx_text = read("windows/swarmload.admx");
    let adml_text = read("windows/en-US/swarmload.adml");
    let admx = roxmltree::Document::parse(&admx_text).unwrap();
    let adml = roxmltree::Document::parse(&adml_text).unwrap();
    let strings: Vec<&str> = adml
        .descendants()
        .filter(|n| n.has_tag_name("string"))
        .filter_map(|n| n.attribute("id"))
        .collect();
    let presentations: Vec<&str> = adml
        .descendants()
        .filter(|n| n.has_tag_name("presentation"))
        .filter_map(|n| n.attribute("id"))
        .collect();
    // Every $(string.x) and $(presentation.x) the ADMX names is in the ADML.
    for n in admx.descendants() {
        for a in n.attributes() {
            if let Some(id) = a
                .value()
                .strip_prefix("$(string.")
                .and_then(|v| v.strip_suffix(')'))
            {
                assert!(strings.contains(&id), "string {id}");
            }
            if let Some(id) = a
                .value()
                .strip_prefix("$(presentation.")
                .and_then(|v| v.strip_suffix(')'))
            {
                assert!(presentations.contains(&id), "presentation {id}");
            }
        }
    }
    let schema: Value = serde_json::from_str(include_str!("../../extension/schema.json")).unwrap();
    for (browser, root) in [
        ("Chrome", r"Software\Policies\Google\Chrome"),
        ("Edge", r"Software\Policies\Microsoft\Edge"),
        ("Brave", r"Software\Policies\BraveSoftware\Brave"),
    ] {
        let key = format!(r"{root}\3rdparty\extensions\{CHROMIUM_ID}\policy");
        for (name, prop) in schema["properties"].as_object().unwrap() {
            let policy = admx
                .descendants()
                .find(|n| {
                    n.has_tag_name("policy")
                        && n.attribute("name") == Some(&format!("{browser}_{name}"))
                })
                .unwrap_or_else(|| panic!("{browser}: no policy for {name}"));
            assert_eq!(
                policy.attribute("key"),
                Some(key.as_str()),
                "{browser} {name}"
            );
            let element = |tag: &str| policy.descendants().find(|n| n.has_tag_name(tag));
            match prop["type"].as_str().unwrap() {
                "boolean" => {
                    assert_eq!(policy.attribute("valueName"), Some(name.as_str()));
                    assert!(
                        element("enabledValue").is_some() && element("disabledValue").is_some()
                    );
                }
                "integer" | "number" => assert_eq!(
                    element("decimal").and_then(|e| e.attribute("valueName")),
                    Some(name.as_str())
                ),
                "string" => match prop.get("enum") {
                    Some(Value::Array(options)) => {
                        let e = element("enum").unwrap_or_else(|| panic!("{name}: an enum"));
                        let values: Vec<&str> = e
                            .descendants()
                            .filter(|n| n.has_tag_name("string"))
                            .filter_map(|n| n.text())
                            .collect();
                        let want: Vec<&str> = options.iter().map(|o| o.as_str().unwrap()).collect();
                        assert_eq!(values, want, "{name}");
                    }
                    _ => assert_eq!(
                        element("text").and_then(|e| e.attribute("valueName")),
                        Some(name.as_str())
                    ),
                },
                "array" => {
                    let list = element("list").unwrap_or_else(|| panic!("{name}: a list"));
                    assert_eq!(
                        list.attribute("key"),
                        Some(format!(r"{key}\{name}").as_str())
                    );
                }
                other => panic!("{name}: {other}"),
            }
        }
    }
}
