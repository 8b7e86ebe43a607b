//! pam_totp's secret-file parser and serializer: any bytes through `SecretFile::parse`. Must never panic; a
//! parsed file serializes (`to_bytes`) back to exactly the bytes it was parsed from (the format keeps every
//! line and line ending), and those bytes parse again to an equal value; the getters and `warnings()` never
//! panic. Then a few setters are applied (the edits the module makes after a login) and the result must
//! round-trip too.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use pam_totp::secret_file::{SecretFile, MAX_FILE_SIZE};

fn round_trip(file: &SecretFile) {
    let bytes = file.to_bytes();
    if bytes.len() > MAX_FILE_SIZE {
        // The store refuses to write such content (check_content), so it never reaches a reader.
        return;
    }
    let again = SecretFile::parse(&bytes).unwrap_or_else(|e| panic!("serialized file does not parse: {e}"));
    assert!(again == *file, "round trip changed the file: {file:?} -> {again:?}");
    assert_eq!(*again.to_bytes(), *bytes);
}

fn read_everything(file: &SecretFile) {
    let _ = file.secret().len();
    let _ = file.otp().map(|o| o.hotp(0));
    let _ = file.mode();
    let _ = file.totp_auth();
    let _ = file.hotp_counter();
    assert!(file.step_size().get() >= 1);
    let _ = file.window_size();
    let _ = file.disallow_reuse().map(<[u64]>::len);
    let _ = file.rate_limit();
    let _ = file.time_skew();
    let _ = file.resetting_time_skew().len();
    let _ = file.last_logins().iter().flatten().map(|l| (l.host().len(), l.time())).count();
    let _ = file.algorithm();
    let _ = file.digits();
    assert!(file.scratch_codes().all(|c| (10_000_000..=99_999_999).contains(&c)));
    let _ = file.raw_value("TOTP_AUTH");
    let _ = file.raw_value("UNKNOWN_KEY");
    for w in file.warnings() {
        let _ = w.to_string();
    }
    let _ = format!("{file:?}");
}

fuzz_target!(|data: &[u8]| {
    let file = match SecretFile::parse(data) {
        Ok(f) => f,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    // An unmodified file is written back byte for byte.
    assert_eq!(*file.to_bytes(), *data, "unmodified file does not serialize to its own bytes");
    round_trip(&file);
    read_everything(&file);

    // The edits `verify` makes, driven by the last input byte.
    let knob = u64::from(*data.last().unwrap_or(&0));
    let mut edited = file.clone();
    edited.set_hotp_counter(edited.hotp_counter().map(|c| c.saturating_add(1)));
    edited.set_time_skew(Some(knob as i64 - 128));
    let mut used = edited.disallow_reuse().map(<[u64]>::to_vec).unwrap_or_default();
    used.push(knob);
    edited.set_disallow_reuse(Some(used));
    if let Some(rl) = edited.rate_limit().cloned() {
        let mut rl = rl;
        rl.timestamps.push(knob);
        assert!(edited.set_rate_limit(Some(rl)));
    }
    edited.set_resetting_time_skew(Some(Vec::new()));
    if let Some(last) = pam_totp::secret_file::LastLogin::new("192.0.2.7", knob) {
        assert!(edited.set_last_login((knob % 10) as usize, Some(last)));
    }
    let first_scratch = edited.scratch_codes().next();
    if let Some(code) = first_scratch {
        assert!(edited.remove_scratch_code(code));
    }
    assert!(edited.add_scratch_code(12_345_678));
    round_trip(&edited);
    read_everything(&edited);
    // Removing what was set leaves a parseable file as well.
    edited.set_disallow_reuse(None);
    edited.set_time_skew(None);
    edited.set_resetting_time_skew(None);
    for slot in 0..10 {
        edited.set_last_login(slot, None);
    }
    edited.set_totp_auth(!edited.totp_auth());
    round_trip(&edited);
});
