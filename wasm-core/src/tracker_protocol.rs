//! The WebTorrent WebSocket tracker protocol, as `bittorrent-tracker` and `aquatic_ws`
//! speak it: JSON text messages with an `action`; 20-byte ids (info hash, peer id,
//! offer id) as strings of 20 characters, one per byte (U+0000 to U+00FF).

use serde_json::{Map, Value, json};

use crate::group_mapping::{MapId, Record};

/// A 20-byte id (info hash, peer id or offer id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id20(pub [u8; 20]);

impl Id20 {
    /// From the one-char-per-byte string form; `None` unless it is exactly 20
    /// characters, each at most U+00FF.
    pub fn from_binary_str(s: &str) -> Option<Id20> {
        let mut out = [0u8; 20];
        let mut n = 0;
        for c in s.chars() {
            let v = u32::from(c);
            if v > 0xff || n == 20 {
                return None;
            }
            out[n] = v as u8;
            n += 1;
        }
        (n == 20).then_some(Id20(out))
    }

    pub fn to_binary_string(&self) -> String {
        self.0.iter().map(|&b| char::from(b)).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Started,
    Stopped,
    Completed,
    Update,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub offer_id: Id20,
    /// The SDP object (`{type: "offer", sdp}`), passed on as it is.
    pub offer: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub to_peer_id: Id20,
    pub offer_id: Id20,
    pub answer: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Announce {
    pub info_hash: Id20,
    pub peer_id: Id20,
    pub event: Event,
    /// Bytes still missing; 0 makes the peer a seeder.
    pub left: Option<u64>,
    pub numwant: Option<u64>,
    pub offers: Vec<Offer>,
    pub answer: Option<Answer>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Announce(Announce),
    Scrape(Vec<Id20>),
    /// Swarmload's extension: store a trusted group's mapping record.
    MappingPut {
        map_id: MapId,
        record: Record,
    },
    /// Swarmload's extension: the records stored under an id.
    MappingGet(MapId),
}

/// Swarmload's own actions (docs/protocol.md, "Group mappings"). A plain WebTorrent
/// tracker answers them with a `failure reason` or not at all; clients take either
/// as "no mapping".
pub const MAPPING_PUT: &str = "swarmload_mapping_put";
pub const MAPPING_GET: &str = "swarmload_mapping_get";

/// Why a message was refused; sent back as `failure reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    pub action: &'static str,
    pub reason: String,
}

/// Largest SDP object passed on (real ones are a few KiB).
pub const MAX_SDP_BYTES: usize = 16 * 1024;

fn bad(action: &'static str, reason: impl Into<String>) -> BadRequest {
    BadRequest {
        action,
        reason: reason.into(),
    }
}

fn id(map: &Map<String, Value>, key: &str, action: &'static str) -> Result<Id20, BadRequest> {
    map.get(key)
        .and_then(Value::as_str)
        .and_then(Id20::from_binary_str)
        .ok_or_else(|| bad(action, format!("invalid {key}")))
}

fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn sdp(v: &Value, action: &'static str) -> Result<Value, BadRequest> {
    let size = serde_json::to_string(v)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if !v.is_object() || size > MAX_SDP_BYTES {
        return Err(bad(action, "invalid SDP object"));
    }
    Ok(v.clone())
}

/// Parses one text message. `max_offers` bounds the offers taken from it.
pub fn parse(text: &str, max_offers: usize) -> Result<Request, BadRequest> {
    let value: Value = serde_json::from_str(text).map_err(|_| bad("announce", "invalid JSON"))?;
    let Value::Object(map) = value else {
        return Err(bad("announce", "a message is a JSON object"));
    };
    match map.get("action").and_then(Value::as_str) {
        Some("announce") => parse_announce(&map, max_offers).map(Request::Announce),
        Some("scrape") => {
            let hashes = match map.get("info_hash") {
                Some(Value::String(s)) => vec![Id20::from_binary_str(s)],
                Some(Value::Array(a)) if a.len() <= 256 => a
                    .iter()
                    .map(|v| v.as_str().and_then(Id20::from_binary_str))
                    .collect(),
                None => Vec::new(),
                _ => return Err(bad("scrape", "invalid info_hash")),
            };
            let hashes: Option<Vec<Id20>> = hashes.into_iter().collect();
            hashes
                .map(Request::Scrape)
                .ok_or_else(|| bad("scrape", "invalid info_hash"))
        }
        Some(MAPPING_PUT) => {
            let map_id = map_id(&map, MAPPING_PUT)?;
            let record = map
                .get("record")
                .and_then(Record::from_value)
                .ok_or_else(|| bad(MAPPING_PUT, "invalid record"))?;
            Ok(Request::MappingPut { map_id, record })
        }
        Some(MAPPING_GET) => Ok(Request::MappingGet(map_id(&map, MAPPING_GET)?)),
        _ => Err(bad("announce", "invalid action")),
    }
}

fn map_id(map: &Map<String, Value>, action: &'static str) -> Result<MapId, BadRequest> {
    map.get("map_id")
        .and_then(Value::as_str)
        .and_then(MapId::from_hex)
        .ok_or_else(|| bad(action, "invalid map_id"))
}

fn parse_announce(map: &Map<String, Value>, max_offers: usize) -> Result<Announce, BadRequest> {
    const A: &str = "announce";
    let info_hash = id(map, "info_hash", A)?;
    let peer_id = id(map, "peer_id", A)?;
    let event = match map.get("event").and_then(Value::as_str) {
        None | Some("") | Some("update") | Some("empty") => Event::Update,
        Some("started") => Event::Started,
        Some("stopped") => Event::Stopped,
        Some("completed") => Event::Completed,
        Some(_) => return Err(bad(A, "invalid event")),
    };
    let mut offers = Vec::new();
    if let Some(list) = map.get("offers") {
        let Value::Array(list) = list else {
            return Err(bad(A, "invalid offers"));
        };
        for o in list.iter().take(max_offers) {
            let offer_id = o
                .get("offer_id")
                .and_then(Value::as_str)
                .and_then(Id20::from_binary_str)
                .ok_or_else(|| bad(A, "invalid offer_id"))?;
            let offer = sdp(o.get("offer").unwrap_or(&Value::Null), A)?;
            offers.push(Offer { offer_id, offer });
        }
    }
    let answer = match map.get("answer") {
        None | Some(Value::Null) => None,
        Some(a) => Some(Answer {
            to_peer_id: id(map, "to_peer_id", A)?,
            offer_id: id(map, "offer_id", A)?,
            answer: sdp(a, A)?,
        }),
    };
    Ok(Announce {
        info_hash,
        peer_id,
        event,
        left: number(map.get("left")),
        numwant: number(map.get("numwant")),
        offers,
        answer,
    })
}

pub fn failure(b: &BadRequest, info_hash: Option<Id20>) -> String {
    let mut v = json!({"action": b.action, "failure reason": b.reason});
    if let Some(ih) = info_hash {
        v["info_hash"] = Value::String(ih.to_binary_string());
    }
    v.to_string()
}

pub fn announce_response(
    info_hash: Id20,
    interval: u64,
    complete: usize,
    incomplete: usize,
) -> String {
    json!({
        "action": "announce",
        "interval": interval,
        "info_hash": info_hash.to_binary_string(),
        "complete": complete,
        "incomplete": incomplete,
    })
    .to_string()
}

/// What a peer receives for an offer another peer made.
pub fn forwarded_offer(info_hash: Id20, from: Id20, offer: &Offer) -> String {
    json!({
        "action": "announce",
        "info_hash": info_hash.to_binary_string(),
        "peer_id": from.to_binary_string(),
        "offer_id": offer.offer_id.to_binary_string(),
        "offer": offer.offer,
    })
    .to_string()
}

/// What the offering peer receives when its offer is answered.
pub fn forwarded_answer(info_hash: Id20, from: Id20, answer: &Answer) -> String {
    json!({
        "action": "announce",
        "info_hash": info_hash.to_binary_string(),
        "peer_id": from.to_binary_string(),
        "offer_id": answer.offer_id.to_binary_string(),
        "answer": answer.answer,
    })
    .to_string()
}

pub fn scrape_response(files: &[(Id20, usize, usize, u64)]) -> String {
    let mut map = Map::new();
    for (ih, complete, incomplete, downloaded) in files {
        map.insert(
            ih.to_binary_string(),
            json!({"complete": complete, "incomplete": incomplete, "downloaded": downloaded}),
        );
    }
    json!({"action": "scrape", "files": map}).to_string()
}

// ---- the client side ------------------------------------------------------------

/// What a client tells the tracker with an announce.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnounceParams {
    pub info_hash: Id20,
    pub peer_id: Id20,
    pub event: Option<Event>,
    pub left: u64,
    pub uploaded: u64,
    pub downloaded: u64,
    pub offers: Vec<Offer>,
}

pub fn announce_request(p: &AnnounceParams) -> String {
    let offers: Vec<Value> = p
        .offers
        .iter()
        .map(|o| json!({"offer_id": o.offer_id.to_binary_string(), "offer": o.offer}))
        .collect();
    let mut v = json!({
        "action": "announce",
        "info_hash": p.info_hash.to_binary_string(),
        "peer_id": p.peer_id.to_binary_string(),
        "numwant": offers.len(),
        "left": p.left,
        "uploaded": p.uploaded,
        "downloaded": p.downloaded,
        "offers": offers,
    });
    if let Some(e) = p.event {
        v["event"] = json!(match e {
            Event::Started => "started",
            Event::Stopped => "stopped",
            Event::Completed => "completed",
            Event::Update => "update",
        });
    }
    v.to_string()
}

pub fn answer_request(info_hash: Id20, peer_id: Id20, answer: &Answer) -> String {
    json!({
        "action": "announce",
        "info_hash": info_hash.to_binary_string(),
        "peer_id": peer_id.to_binary_string(),
        "to_peer_id": answer.to_peer_id.to_binary_string(),
        "offer_id": answer.offer_id.to_binary_string(),
        "answer": answer.answer,
    })
    .to_string()
}

/// A message from the tracker, as a client reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// The answer to our announce.
    Announced {
        interval: Option<u64>,
        complete: Option<u64>,
        incomplete: Option<u64>,
    },
    /// Another peer's offer, to be answered.
    Offer {
        from: Id20,
        offer_id: Id20,
        offer: Value,
    },
    /// The answer to one of our offers.
    Answer {
        from: Id20,
        offer_id: Id20,
        answer: Value,
    },
    Failure(String),
    /// Anything else (scrape results, unknown actions, malformed messages).
    Other,
}

pub fn parse_server(text: &str) -> ServerMessage {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return ServerMessage::Other;
    };
    if let Some(reason) = map.get("failure reason").and_then(Value::as_str) {
        let reason: String = reason.chars().take(256).collect();
        return ServerMessage::Failure(reason);
    }
    if map.get("action").and_then(Value::as_str) != Some("announce") {
        return ServerMessage::Other;
    }
    let ids = (
        map.get("peer_id")
            .and_then(Value::as_str)
            .and_then(Id20::from_binary_str),
        map.get("offer_id")
            .and_then(Value::as_str)
            .and_then(Id20::from_binary_str),
    );
    if let (Some(offer), (Some(from), Some(offer_id))) = (map.get("offer"), ids) {
        return match sdp(offer, "announce") {
            Ok(offer) => ServerMessage::Offer {
                from,
                offer_id,
                offer,
            },
            Err(_) => ServerMessage::Other,
        };
    }
    if let (Some(answer), (Some(from), Some(offer_id))) = (map.get("answer"), ids) {
        return match sdp(answer, "announce") {
            Ok(answer) => ServerMessage::Answer {
                from,
                offer_id,
                answer,
            },
            Err(_) => ServerMessage::Other,
        };
    }
    ServerMessage::Announced {
        interval: number(map.get("interval")),
        complete: number(map.get("complete")),
        incomplete: number(map.get("incomplete")),
    }
}

// ---- group mappings ---------------------------------------------------------------

pub fn mapping_put_request(map_id: &MapId, record: &Record) -> String {
    json!({"action": MAPPING_PUT, "map_id": map_id.to_hex(), "record": record.to_value()})
        .to_string()
}

pub fn mapping_get_request(map_id: &MapId) -> String {
    json!({"action": MAPPING_GET, "map_id": map_id.to_hex()}).to_string()
}

/// The tracker's answer to a put.
pub fn mapping_stored(map_id: &MapId) -> String {
    json!({"action": MAPPING_PUT, "map_id": map_id.to_hex(), "stored": true}).to_string()
}

/// The tracker's answer to a get: every record it holds for the id, newest first.
pub fn mapping_records(map_id: &MapId, records: &[Record]) -> String {
    let records: Vec<Value> = records.iter().map(Record::to_value).collect();
    json!({"action": MAPPING_GET, "map_id": map_id.to_hex(), "records": records}).to_string()
}

/// What a client makes of a tracker's message while it waits on a mapping request.
#[derive(Debug, Clone, PartialEq)]
pub enum MappingReply {
    Stored(MapId),
    /// Malformed records are dropped here; the rest still need their MAC checked.
    Records(MapId, Vec<Record>),
    /// The tracker refused the request: most likely it does not know the action.
    Failure(String),
}

/// `None` for anything that is not about mappings (announces, unknown actions):
/// those are ignored.
pub fn parse_mapping_reply(text: &str) -> Option<MappingReply> {
    let Value::Object(map) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    if let Some(reason) = map.get("failure reason") {
        let action = map.get("action").and_then(Value::as_str);
        // bittorrent-tracker names the failed action, or says nothing; an announce's
        // failure is not ours.
        if action.is_none_or(|a| a == MAPPING_PUT || a == MAPPING_GET) {
            let reason = reason.as_str().unwrap_or("refused");
            return Some(MappingReply::Failure(reason.chars().take(200).collect()));
        }
        return None;
    }
    let id = map
        .get("map_id")
        .and_then(Value::as_str)
        .and_then(MapId::from_hex)?;
    match map.get("action").and_then(Value::as_str)? {
        MAPPING_PUT => Some(MappingReply::Stored(id)),
        MAPPING_GET => {
            let records = map
                .get("records")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .take(MAX_RECORDS_PER_ID)
                        .filter_map(Record::from_value)
                        .collect()
                })
                .unwrap_or_default();
            Some(MappingReply::Records(id, records))
        }
        _ => None,
    }
}

/// How many records a tracker keeps per id, and a client reads from one answer.
pub const MAX_RECORDS_PER_ID: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_char_per_byte() {
        let bytes: [u8; 20] = core::array::from_fn(|i| (i as u8) * 13);
        let s = Id20(bytes).to_binary_string();
        assert_eq!(s.chars().count(), 20);
        assert_eq!(Id20::from_binary_str(&s), Some(Id20(bytes)));
        assert_eq!(Id20::from_binary_str("short"), None);
        assert_eq!(Id20::from_binary_str(&"x".repeat(21)), None);
        // A character above U+00FF is not a byte.
        assert_eq!(
            Id20::from_binary_str(&format!("{}\u{100}", "x".repeat(19))),
            None
        );
    }

    #[test]
    fn announces_parse_and_bad_ones_say_why() {
        let ih = "i".repeat(20);
        let pid = "p".repeat(20);
        let text = json!({"action": "announce", "info_hash": ih, "peer_id": pid,
            "numwant": 5, "left": 0, "event": "started",
            "offers": [{"offer_id": "o".repeat(20), "offer": {"type": "offer", "sdp": "v=0"}}]})
        .to_string();
        let Request::Announce(a) = parse(&text, 10).unwrap() else {
            panic!()
        };
        assert_eq!(a.event, Event::Started);
        assert_eq!(a.left, Some(0));
        assert_eq!(a.offers.len(), 1);
        for (text, why) in [
            ("{", "invalid JSON"),
            ("[]", "a message is a JSON object"),
            (r#"{"action":"fly"}"#, "invalid action"),
            (
                r#"{"action":"announce","info_hash":"short","peer_id":"p"}"#,
                "invalid info_hash",
            ),
        ] {
            assert_eq!(parse(text, 10).unwrap_err().reason, why);
        }
        let no_peer = json!({"action": "announce", "info_hash": ih}).to_string();
        assert_eq!(parse(&no_peer, 10).unwrap_err().reason, "invalid peer_id");
        let answer_without_target =
            json!({"action": "announce", "info_hash": ih, "peer_id": pid, "answer": {"sdp": "x"}})
                .to_string();
        assert_eq!(
            parse(&answer_without_target, 10).unwrap_err().reason,
            "invalid to_peer_id"
        );
    }

    #[test]
    fn mapping_requests_round_trip_and_plain_tracker_answers_are_understood() {
        use crate::group_mapping::{GroupKey, Subject};
        let key = GroupKey::from_secret("a group secret of some length");
        let url = url::Url::parse("https://dl.example/a.bin").unwrap();
        let id = key.map_id(&Subject::new(&url, Some("\"e\""), None, 9).unwrap());
        let record = key.seal(&id, crate::content::Hash32([1; 32]), 9);
        assert_eq!(
            parse(&mapping_put_request(&id, &record), 4),
            Ok(Request::MappingPut {
                map_id: id,
                record: record.clone()
            })
        );
        assert_eq!(
            parse(&mapping_get_request(&id), 4),
            Ok(Request::MappingGet(id))
        );
        assert_eq!(
            parse_mapping_reply(&mapping_records(&id, std::slice::from_ref(&record))),
            Some(MappingReply::Records(id, vec![record]))
        );
        assert_eq!(
            parse_mapping_reply(&mapping_stored(&id)),
            Some(MappingReply::Stored(id))
        );
        // What bittorrent-tracker sends for an action it does not know.
        assert!(matches!(
            parse_mapping_reply(
                r#"{"failure reason":"invalid action in WS request: swarmload_mapping_get"}"#
            ),
            Some(MappingReply::Failure(_))
        ));
        // Announces and unknown actions are ignored.
        assert_eq!(
            parse_mapping_reply(&announce_response(Id20([0; 20]), 120, 1, 0)),
            None
        );
        assert_eq!(parse_mapping_reply(r#"{"action":"x","map_id":"00"}"#), None);
        assert!(parse(r#"{"action":"swarmload_mapping_get","map_id":"zz"}"#, 4).is_err());
        assert!(
            parse(
                &format!(
                    r#"{{"action":"swarmload_mapping_put","map_id":"{}","record":{{}}}}"#,
                    id.to_hex()
                ),
                4
            )
            .is_err()
        );
    }
}
