//! The messages the extension sends the host (docs/native-messaging.md); what the
//! host sends back is typed in `outgoing`.
//! Requests are parsed in two steps, so that each way of being wrong gets its own
//! error code: not JSON, not an object with a `type`, an unknown `type`, or fields
//! that do not fit the type.

use serde::Deserialize;
use serde_json::Value;

use super::outgoing::Outgoing;

/// Version of this message set; bumped on incompatible change.
pub const PROTOCOL: u32 = 1;

/// Bounds on what the browser may send inside a message.
const MAX_HEADERS: usize = 256;
const MAX_HEADER_VALUE: usize = 16 * 1024;
const MAX_URL: usize = 16 * 1024;
const MAX_ID: usize = 256;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
pub struct HeaderEntry {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// A download as the browser saw it.
#[derive(Debug, Deserialize)]
pub struct Target {
    pub url: String,
    /// The request headers the browser sent (`webRequest` form: `{name, value}`).
    #[serde(default)]
    pub headers: Vec<HeaderEntry>,
    #[serde(default)]
    pub incognito: bool,
    /// The request method, if known; only GET downloads are taken.
    #[serde(default)]
    pub method: Option<String>,
    /// The link the user clicked, when the browser was redirected from it to `url`.
    #[serde(default)]
    pub link: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Resolve {
    #[serde(flatten)]
    pub target: Target,
}

#[derive(Debug, Deserialize)]
pub struct Start {
    #[serde(flatten)]
    pub target: Target,
    /// The name the browser chose, used for the delivered file.
    #[serde(default)]
    pub filename: Option<String>,
    /// A SHA-256 the extension trusts (enterprise policy, a link's fragment).
    #[serde(default)]
    pub sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Cancel {
    pub download: String,
}

#[derive(Debug, Deserialize)]
pub struct PolicyPush {
    /// Enterprise policy (`storage.managed`): the highest layer.
    pub policy: Value,
    /// The options page's settings: the lowest layer, under `config.toml`.
    #[serde(default)]
    pub settings: Option<Value>,
}

#[derive(Debug)]
pub enum Request {
    Hello,
    Policy(PolicyPush),
    Resolve(Resolve),
    Start(Start),
    Cancel(Cancel),
    Status,
}

/// A request that could not be taken, with the code the reply carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    pub code: &'static str,
    pub message: String,
    /// The request's `id`, when it got that far.
    pub id: Option<Value>,
}

impl BadRequest {
    fn new(code: &'static str, message: impl Into<String>, id: Option<Value>) -> Self {
        BadRequest {
            code,
            message: message.into(),
            id,
        }
    }

    pub fn reply(&self) -> Outgoing {
        Outgoing::error(self.id.clone(), self.code, &self.message)
    }
}

/// Parses one message body into its `id` and request.
pub fn parse(body: &[u8]) -> Result<(Option<Value>, Request), BadRequest> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BadRequest::new("bad_json", format!("not JSON: {e}"), None))?;
    let Value::Object(map) = value else {
        return Err(BadRequest::new(
            "bad_message",
            "a message is a JSON object",
            None,
        ));
    };
    let id = match map.get("id") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Number(_)) => Some(v.clone()),
        Some(Value::String(s)) if s.len() <= MAX_ID => Some(Value::String(s.clone())),
        Some(_) => {
            return Err(BadRequest::new(
                "bad_message",
                format!("`id` must be a number or a string of at most {MAX_ID} bytes"),
                None,
            ));
        }
    };
    let Some(Value::String(kind)) = map.get("type") else {
        return Err(BadRequest::new(
            "bad_message",
            "a message needs a string `type`",
            id,
        ));
    };
    let kind = kind.clone();
    let value = Value::Object(map);
    let fields =
        |e: serde_json::Error| BadRequest::new("bad_request", format!("{kind}: {e}"), id.clone());
    let request = match kind.as_str() {
        "hello" => Request::Hello,
        "policy" => Request::Policy(serde_json::from_value(value).map_err(fields)?),
        "resolve" => {
            let r: Resolve = serde_json::from_value(value).map_err(fields)?;
            check_bounds(&r.target).map_err(|m| BadRequest::new("bad_request", m, id.clone()))?;
            Request::Resolve(r)
        }
        "start" => {
            let s: Start = serde_json::from_value(value).map_err(fields)?;
            check_bounds(&s.target).map_err(|m| BadRequest::new("bad_request", m, id.clone()))?;
            Request::Start(s)
        }
        "cancel" => Request::Cancel(serde_json::from_value(value).map_err(fields)?),
        "status" => Request::Status,
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(BadRequest::new(
                "unknown_type",
                format!("unknown message type {shown:?}"),
                id,
            ));
        }
    };
    Ok((id, request))
}

fn check_bounds(t: &Target) -> Result<(), String> {
    let (url, headers) = (&t.url, &t.headers);
    if url.len() > MAX_URL {
        return Err(format!("the URL is longer than {MAX_URL} bytes"));
    }
    if headers.len() > MAX_HEADERS {
        return Err(format!("more than {MAX_HEADERS} headers"));
    }
    if headers
        .iter()
        .any(|h| h.name.len() > 256 || h.value.len() > MAX_HEADER_VALUE)
    {
        return Err("a header is too long".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &[u8]) -> &'static str {
        parse(body).err().map(|e| e.code).unwrap_or("ok")
    }

    #[test]
    fn each_kind_of_wrong_gets_its_code() {
        assert_eq!(code(b"{"), "bad_json");
        assert_eq!(code(b"\xff\xfe"), "bad_json");
        assert_eq!(code(b"[1,2]"), "bad_message");
        assert_eq!(code(br#"{"id":1}"#), "bad_message");
        assert_eq!(code(br#"{"type":7}"#), "bad_message");
        assert_eq!(code(br#"{"type":"hello","id":{"a":1}}"#), "bad_message");
        assert_eq!(code(br#"{"type":"fly"}"#), "unknown_type");
        assert_eq!(code(br#"{"type":"resolve"}"#), "bad_request");
        assert_eq!(code(br#"{"type":"resolve","url":5}"#), "bad_request");
        assert_eq!(code(br#"{"type":"cancel"}"#), "bad_request");
        assert_eq!(code(br#"{"type":"hello","id":"x"}"#), "ok");
        let many: Vec<Value> = (0..300)
            .map(|i| serde_json::json!({"name": format!("h{i}"), "value": "v"}))
            .collect();
        let body =
            serde_json::json!({"type": "resolve", "url": "http://a/", "headers": many}).to_string();
        assert_eq!(code(body.as_bytes()), "bad_request");
        let e = parse(br#"{"type":"fly","id":3}"#).unwrap_err();
        assert_eq!(e.reply().id, Some(serde_json::json!(3)));
    }
}
