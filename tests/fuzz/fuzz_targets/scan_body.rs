//! The scan body parser, on any bytes a client might POST (the gateway reads at most
//! 4 KB of them).
//!
//! Beyond not crashing: whatever it accepts holds to the id rules, and a member id
//! can't carry the characters Redis keys and hash tags are built from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yima_campaign::request::{ScanRequest, check_member, check_region, check_request_id};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = ScanRequest::parse(data) else {
        return;
    };
    if let Some(member) = &request.member {
        assert!(check_member(member).is_ok());
        assert!(!member.contains(['{', '}', ':', ' ', '\n']));
    }
    if let Some(region) = &request.region {
        assert!(check_region(region).is_ok());
    }
    if let Some(id) = &request.request_id {
        assert!(check_request_id(id).is_ok());
    }
});
