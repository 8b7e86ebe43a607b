//! pam_totp's state-file parser (`state=`): any bytes through `State::parse`. Must never panic; a parsed
//! state serializes to bytes that parse to an equal state, and laying it over a secret file (`effective`)
//! and recording from that never panics either.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use pam_totp::secret_file::SecretFile;
use pam_totp::state_file::{effective, State};

const SECRET_FILE: &[u8] = b"JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n12345678\n";

fuzz_target!(|data: &[u8]| {
    let state = match State::parse(data) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let again = State::parse(&state.to_bytes()).unwrap_or_else(|e| panic!("serialized state does not parse: {e}"));
    assert!(again == state, "round trip changed the state: {state:?} -> {again:?}");
    let _ = format!("{state:?}");
    if let Ok(file) = SecretFile::parse(SECRET_FILE) {
        let before = effective(&file, Some(&state));
        let next = state.recorded(&file, &before, &before);
        assert!(State::parse(&next.to_bytes()).is_ok());
    }
});
