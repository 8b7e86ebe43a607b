//! The pam-totpd wire format (pam_totp::pamd): any bytes as a frame and as a request or reply body. The daemon
//! decodes whatever any local user sends, so decoding must never panic; whatever decodes must encode back to
//! a body that decodes to the same value.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use pam_totp::pamd::{read_frame, Reply, Request};

fuzz_target!(|data: &[u8]| {
    let _ = read_frame(&mut &data[..]);
    if let Ok(request) = Request::decode(data) {
        let body = request.encode().expect("a decoded request encodes");
        assert_eq!(Request::decode(&body).expect("and decodes again"), request);
    }
    if let Ok(reply) = Reply::decode(data) {
        let body = reply.encode().expect("a decoded reply encodes");
        assert_eq!(Reply::decode(&body).expect("and decodes again"), reply);
    }
});
