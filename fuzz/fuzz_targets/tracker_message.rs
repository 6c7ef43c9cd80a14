//! Tracker messages from arbitrary text: parsing never panics, ids come out as 20
//! bytes that round-trip through their string form, and every refusal can be sent
//! back as JSON. Group-mapping requests re-encode to what parses the same, and a
//! client reads any text as a mapping reply without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmload_tracker::protocol::{self, Id20, Request};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match protocol::parse(&text, 10) {
        Ok(Request::Announce(a)) => {
            assert!(a.offers.len() <= 10);
            for id in [a.info_hash, a.peer_id] {
                assert_eq!(Id20::from_binary_str(&id.to_binary_string()), Some(id));
            }
        }
        Ok(Request::Scrape(list)) => assert!(list.len() <= 256),
        Ok(Request::MappingPut { map_id, record }) => {
            let again = protocol::parse(&protocol::mapping_put_request(&map_id, &record), 10);
            assert_eq!(again, Ok(Request::MappingPut { map_id, record }));
        }
        Ok(Request::MappingGet(map_id)) => {
            let again = protocol::parse(&protocol::mapping_get_request(&map_id), 10);
            assert_eq!(again, Ok(Request::MappingGet(map_id)));
        }
        Err(b) => {
            let v: serde_json::Value = serde_json::from_str(&protocol::failure(&b, None)).unwrap();
            assert!(v["failure reason"].is_string());
        }
    }
    if let Some(protocol::MappingReply::Records(_, records)) = protocol::parse_mapping_reply(&text)
    {
        assert!(records.len() <= protocol::MAX_RECORDS_PER_ID);
    }
});
