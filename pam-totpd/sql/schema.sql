-- pam-totpd: the fleet's TOTP/HOTP state in PostgreSQL (15 or later). The database decides: hosts call
-- totp.verify / totp.probe / totp.enroll_self and never read a secret; "used" is recorded with conditional
-- UPDATEs (compare-and-swap), so two hosts racing with the same code cannot both win.
--
-- Run once per database, as a superuser (it creates roles and the pgcrypto extension):
--   psql -v ON_ERROR_STOP=1 -d totp -f schema.sql
-- Then create one login role per host (or per pam-totpd instance) in group totp_host, and admins in totp_admin:
--   CREATE ROLE host_web1 LOGIN IN ROLE totp_host;   -- authenticate it with a client certificate (pg_hba cert)
-- docs/fleet.md describes the roles, the settings and what each function returns.

BEGIN;

-- Roles are cluster-wide: create them only when absent so the script also runs in a second database.
DO $roles$
BEGIN
    -- Owns the schema, the tables and the SECURITY DEFINER functions; nobody logs in as it.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'totp_owner') THEN
        CREATE ROLE totp_owner NOLOGIN;
    END IF;
    -- Hosts: may only EXECUTE totp.verify, totp.probe, totp.enroll_self and totp.status.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'totp_host') THEN
        CREATE ROLE totp_host NOLOGIN;
    END IF;
    -- Admins: the totp.admin_* functions (add, disable, reset, unlock), totp.status and read access to the audit log.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'totp_admin') THEN
        CREATE ROLE totp_admin NOLOGIN;
    END IF;
END
$roles$;

-- pgcrypto lives in its own schema, which the functions name (their search_path is pg_catalog, pg_temp).
CREATE SCHEMA totp_crypto AUTHORIZATION totp_owner;
REVOKE ALL ON SCHEMA totp_crypto FROM PUBLIC;
CREATE EXTENSION pgcrypto WITH SCHEMA totp_crypto;

CREATE SCHEMA totp AUTHORIZATION totp_owner;
REVOKE ALL ON SCHEMA totp FROM PUBLIC;
GRANT USAGE ON SCHEMA totp TO totp_host, totp_admin;

-- Everything below is created by (and so owned by) the NOLOGIN owner.
SET LOCAL ROLE totp_owner;

-- One row of policy. rate_*: per (user, source address) throttling, checked first (google-authenticator's
-- RATE_LIMIT 3 30). max_failures: consecutive failures of one user, fleet-wide, after which the user is
-- refused until an admin unlocks (totp.admin_unlock) or cooldown passes (NIST SP 800-63B: at most 100).
CREATE TABLE totp.setting (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    rate_attempts integer NOT NULL DEFAULT 3 CHECK (rate_attempts >= 1),
    rate_seconds integer NOT NULL DEFAULT 30 CHECK (rate_seconds >= 1),
    max_failures integer NOT NULL DEFAULT 100 CHECK (max_failures BETWEEN 1 AND 100),
    cooldown interval NOT NULL DEFAULT interval '15 minutes' CHECK (cooldown > interval '0')
);
INSERT INTO totp.setting DEFAULT VALUES;

-- One row per enrolled user: the fleet-wide failure count, the lock, the salt of the scratch-code hashes.
CREATE TABLE totp.account (
    username text PRIMARY KEY CHECK (username <> '' AND octet_length(username) <= 255),
    salt bytea NOT NULL DEFAULT totp_crypto.gen_random_bytes(16),
    failures integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    disabled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Several labelled tokens per user (phone, backup hardware token); verify tries each active one.
-- TOTP: last_step is the highest time step accepted (a code of that step or an older one is refused).
-- HOTP: hotp_next is the next counter that may be accepted. window_size as google-authenticator's WINDOW_SIZE
-- (TOTP: that many steps centred on now; HOTP: that many counters from hotp_next).
CREATE TABLE totp.token (
    username text NOT NULL REFERENCES totp.account ON DELETE CASCADE,
    label text NOT NULL CHECK (label <> '' AND octet_length(label) <= 64),
    kind text NOT NULL DEFAULT 'totp' CHECK (kind IN ('totp', 'hotp')),
    algorithm text NOT NULL DEFAULT 'SHA1' CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
    secret bytea NOT NULL CHECK (octet_length(secret) BETWEEN 10 AND 128),
    digits integer NOT NULL DEFAULT 6 CHECK (digits BETWEEN 6 AND 8),
    period integer NOT NULL DEFAULT 30 CHECK (period BETWEEN 1 AND 86400),
    window_size integer NOT NULL DEFAULT 3 CHECK (window_size BETWEEN 1 AND 21),
    last_step bigint NOT NULL DEFAULT -1,
    hotp_next bigint NOT NULL DEFAULT 0 CHECK (hotp_next >= 0),
    disabled_at timestamptz,
    last_used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, label)
);

-- Scratch (emergency) codes, per user, stored as HMAC-SHA256(salt, code). An 8-digit code has only 10^8
-- values: the hash keeps codes out of backups and logs, it does not resist an offline search.
CREATE TABLE totp.scratch (
    username text NOT NULL REFERENCES totp.account ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (username, code_hash)
);

-- Throttling state per (user, source address); rhost '' when the host did not say.
CREATE TABLE totp.attempt (
    username text NOT NULL,
    rhost text NOT NULL,
    window_start timestamptz NOT NULL,
    attempts integer NOT NULL,
    PRIMARY KEY (username, rhost)
);

-- Audit log: one row per verify (outcome accepted, refused or not-enrolled), per enrollment (enrolled) and per admin
-- change (disabled, unlocked, reset). host_role is the login role of the calling host or admin (session_user).
CREATE TABLE totp.event (
    at timestamptz NOT NULL DEFAULT now(),
    username text NOT NULL,
    host_role text NOT NULL,
    rhost text NOT NULL,
    service text NOT NULL,
    outcome text NOT NULL,
    detail text
);
CREATE INDEX event_user_at ON totp.event (username, at);
GRANT SELECT ON totp.event TO totp_admin;

-- What totp.verify returns; each outcome maps to one reply of the pam-totpd protocol (docs/pamd-protocol.md):
--   ('accepted', via, scratch_left, NULL, NULL)  via: totp | hotp | scratch
--   ('refused', NULL, NULL, reason, retry_after) reason: wrong-code | replayed | rate-limited | locked | disabled
--   ('not-enrolled', NULL, NULL, NULL, NULL)
CREATE TYPE totp.verdict AS (
    outcome text,
    via text,
    scratch_left integer,
    reason text,
    retry_after integer
);

-- RFC 4226 HOTP (RFC 6238 TOTP is this with counter = time step), as a zero-padded decimal string.
-- PL/pgSQL with a variable so that hmac() runs exactly once per code: in a plain SQL function the planner may
-- flatten the subqueries and copy the hmac() call into every reference (12 per code, measured). STABLE, not
-- IMMUTABLE, so no plan ever folds it into a constant: the work per verify does not depend on plan caching.
CREATE FUNCTION totp.hotp(p_secret bytea, p_counter bigint, p_algorithm text, p_digits integer)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h bytea := totp_crypto.hmac(int8send(p_counter), p_secret, lower(p_algorithm));
    o integer := get_byte(h, octet_length(h) - 1) & 15;
BEGIN
    RETURN lpad(((((get_byte(h, o) & 127) << 24) | (get_byte(h, o + 1) << 16)
                  | (get_byte(h, o + 2) << 8) | get_byte(h, o + 3))
                 % (10 ^ p_digits)::integer)::text, p_digits, '0');
END
$$;

-- RFC 4648 base32 (upper or lower case, spaces and '=' ignored), for admins importing existing secrets.
CREATE FUNCTION totp.base32_decode(p_text text)
RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    clean text := upper(translate(p_text, ' =', ''));
    res bytea := '\x'::bytea;
    acc bigint := 0;
    bits integer := 0;
    v integer;
BEGIN
    FOR i IN 1 .. length(clean) LOOP
        v := strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', substr(clean, i, 1)) - 1;
        IF v < 0 THEN
            RAISE EXCEPTION 'not base32: character % of the secret', i USING ERRCODE = '22023';
        END IF;
        acc := ((acc << 5) | v) & 65535;
        bits := bits + 5;
        IF bits >= 8 THEN
            bits := bits - 8;
            res := res || set_byte('\x00'::bytea, 0, ((acc >> bits) & 255)::integer);
        END IF;
    END LOOP;
    RETURN res;
END
$$;

CREATE FUNCTION totp.scratch_hash(p_salt bytea, p_code text)
RETURNS bytea
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT totp_crypto.hmac(convert_to(p_code, 'UTF8'), p_salt, 'sha256') $$;

-- The highest counter in [p_first, p_last] whose code is p_code, or NULL. Every candidate is computed, match
-- or not, so the work does not depend on where (or whether) the code matches.
CREATE FUNCTION totp.match(p_secret bytea, p_algorithm text, p_digits integer, p_first bigint, p_last bigint,
                           p_code text)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT max(c) FILTER (WHERE code = p_code)
    FROM (SELECT c, totp.hotp(p_secret, c, p_algorithm, p_digits) AS code
          FROM generate_series(greatest(p_first, 0), p_last) AS c) AS candidates
$$;

CREATE FUNCTION totp.refused(p_reason text, p_retry_after integer)
RETURNS totp.verdict
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ROW('refused', NULL, NULL, p_reason, greatest(coalesce(p_retry_after, 0), 0))::totp.verdict $$;

-- Seconds from p_now until p_until, rounded up (a "try again in N s" hint).
CREATE FUNCTION totp.seconds_until(p_until timestamptz, p_now timestamptz)
RETURNS integer
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT greatest(ceil(extract(epoch FROM p_until - p_now)), 1)::integer $$;

-- Step 1 of a verify: per (user, source) throttling. Returns the refusal, or NULL when the attempt may go on.
CREATE FUNCTION totp.throttle(p_user text, p_rhost text, p_now timestamptz)
RETURNS totp.verdict
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg totp.setting;
    span interval;
    n integer;
    started timestamptz;
BEGIN
    SELECT * INTO STRICT cfg FROM totp.setting;
    span := cfg.rate_seconds * interval '1 second';
    INSERT INTO totp.attempt AS a (username, rhost, window_start, attempts)
    VALUES (p_user, p_rhost, p_now, 1)
    ON CONFLICT (username, rhost) DO UPDATE SET
        attempts = CASE WHEN a.window_start + span <= p_now THEN 1 ELSE a.attempts + 1 END,
        window_start = CASE WHEN a.window_start + span <= p_now THEN p_now ELSE a.window_start END
    RETURNING a.attempts, a.window_start INTO n, started;
    IF n > cfg.rate_attempts THEN
        RETURN totp.refused('rate-limited', totp.seconds_until(started + span, p_now));
    END IF;
    RETURN NULL;
END
$$;

-- Step 2: the user's fleet-wide lock. Returns the refusal while locked; clears an expired lock.
CREATE FUNCTION totp.check_lock(p_user text, p_now timestamptz)
RETURNS totp.verdict
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    until timestamptz;
BEGIN
    SELECT locked_until INTO until FROM totp.account WHERE username = p_user;
    IF until IS NULL THEN
        RETURN NULL;
    ELSIF until > p_now THEN
        RETURN totp.refused('locked', totp.seconds_until(until, p_now));
    END IF;
    UPDATE totp.account SET failures = 0, locked_until = NULL
    WHERE username = p_user AND locked_until <= p_now;
    RETURN NULL;
END
$$;

-- Step 3: try the code against each active token. Returns 'totp' or 'hotp' when a token accepted it and the use
-- was recorded, 'replayed' when it matched but the compare-and-swap lost (already used, here or on another host),
-- NULL otherwise. With no active token, a dummy token of the default shape costs the same HMAC work.
CREATE FUNCTION totp.try_tokens(p_user text, p_code text, p_active boolean, p_now timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tok totp.token;
    now_s bigint := floor(extract(epoch FROM p_now))::bigint;
    lo bigint;
    hit bigint;
    tried boolean := false;
    replayed boolean := false;
BEGIN
    FOR tok IN SELECT * FROM totp.token
               WHERE username = p_user AND disabled_at IS NULL AND p_active ORDER BY label LOOP
        tried := true;
        IF tok.kind = 'totp' THEN
            lo := now_s / tok.period - (tok.window_size - 1) / 2;
        ELSE
            lo := tok.hotp_next;
        END IF;
        hit := totp.match(tok.secret, tok.algorithm, tok.digits, lo, lo + tok.window_size - 1, p_code);
        CONTINUE WHEN hit IS NULL;
        IF tok.kind = 'totp' THEN
            UPDATE totp.token SET last_step = hit, last_used_at = p_now
            WHERE username = tok.username AND label = tok.label AND last_step < hit AND disabled_at IS NULL;
        ELSE
            UPDATE totp.token SET hotp_next = hit + 1, last_used_at = p_now
            WHERE username = tok.username AND label = tok.label AND hotp_next <= hit AND disabled_at IS NULL;
        END IF;
        IF FOUND THEN
            RETURN tok.kind;
        END IF;
        replayed := true;
    END LOOP;
    IF NOT tried THEN
        PERFORM totp.match('\x0000000000000000000000000000000000000000'::bytea, 'SHA1', 6,
                           now_s / 30 - 1, now_s / 30 + 1, p_code);
    END IF;
    RETURN CASE WHEN replayed THEN 'replayed' END;
END
$$;

-- Step 4: a scratch code. Returns 'scratch' when an unused one was consumed, 'replayed' for a used one, else
-- NULL. The hash is computed whether or not the user exists.
CREATE FUNCTION totp.try_scratch(p_user text, p_code text, p_salt bytea, p_active boolean, p_now timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h bytea := totp.scratch_hash(coalesce(p_salt, '\x00000000000000000000000000000000'::bytea), p_code);
BEGIN
    IF NOT p_active OR p_code !~ '^[0-9]{8}$' THEN
        RETURN NULL;
    END IF;
    UPDATE totp.scratch SET used_at = p_now
    WHERE username = p_user AND code_hash = h AND used_at IS NULL;
    IF FOUND THEN
        RETURN 'scratch';
    END IF;
    IF EXISTS (SELECT 1 FROM totp.scratch WHERE username = p_user AND code_hash = h) THEN
        RETURN 'replayed';
    END IF;
    RETURN NULL;
END
$$;

-- Step 5: count a failure towards the user's ceiling; the attempt that reaches it starts the cool-down.
CREATE FUNCTION totp.count_failure(p_user text, p_now timestamptz)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE totp.account AS a SET
        failures = a.failures + 1,
        locked_until = CASE WHEN a.failures + 1 >= s.max_failures THEN p_now + s.cooldown ELSE a.locked_until END
    FROM totp.setting AS s
    WHERE a.username = p_user
$$;

-- The whole decision at time p_now (totp.verify passes now(); tests pass the RFC vectors' times).
-- Not granted to hosts: they call totp.verify.
CREATE FUNCTION totp.decide(p_user text, p_code text, p_rhost text, p_service text, p_now timestamptz)
RETURNS totp.verdict
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acct totp.account;
    enrolled boolean;
    active boolean;
    via text;
    scratch_via text;
    result totp.verdict;
BEGIN
    -- (A composite IS NULL only when every field is: test the outcome field.)
    result := totp.throttle(p_user, coalesce(p_rhost, ''), p_now);
    IF result.outcome IS NULL THEN
        result := totp.check_lock(p_user, p_now);
    END IF;
    IF result.outcome IS NOT NULL THEN
        INSERT INTO totp.event (at, username, host_role, rhost, service, outcome, detail)
        VALUES (p_now, p_user, session_user, coalesce(p_rhost, ''), coalesce(p_service, ''), 'refused', result.reason);
        RETURN result;
    END IF;

    SELECT * INTO acct FROM totp.account WHERE username = p_user;
    enrolled := FOUND;
    active := enrolled AND acct.disabled_at IS NULL;
    via := totp.try_tokens(p_user, coalesce(p_code, ''), active, p_now);
    IF via IS DISTINCT FROM 'totp' AND via IS DISTINCT FROM 'hotp' THEN
        scratch_via := totp.try_scratch(p_user, coalesce(p_code, ''), acct.salt, active, p_now);
        via := coalesce(scratch_via, via);
    END IF;

    IF via IN ('totp', 'hotp', 'scratch') THEN
        UPDATE totp.account SET failures = 0 WHERE username = p_user AND failures <> 0;
        result := ROW('accepted', via,
                      (SELECT count(*) FROM totp.scratch WHERE username = p_user AND used_at IS NULL),
                      NULL, NULL)::totp.verdict;
    ELSIF NOT enrolled THEN
        result := ROW('not-enrolled', NULL, NULL, NULL, NULL)::totp.verdict;
    ELSIF NOT active THEN
        result := totp.refused('disabled', 0);
    ELSE
        PERFORM totp.count_failure(p_user, p_now);
        result := totp.refused(coalesce(via, 'wrong-code'), 0);
    END IF;
    INSERT INTO totp.event (at, username, host_role, rhost, service, outcome, detail)
    VALUES (p_now, p_user, session_user, coalesce(p_rhost, ''), coalesce(p_service, ''), result.outcome,
            coalesce(result.via, result.reason));
    RETURN result;
END
$$;

-- Host API. ------------------------------------------------------------------------------------------------

-- Verify (and, when accepted, consume) a code for p_user. Never raises for a wrong code: the counters must commit.
CREATE FUNCTION totp.verify(p_user text, p_code text, p_rhost text, p_service text)
RETURNS totp.verdict
LANGUAGE sql SECURITY DEFINER VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT totp.decide(p_user, p_code, p_rhost, p_service, now()) $$;

-- 'enrolled' (including a disabled or locked user: nullok must not let them through) or 'not-enrolled'.
CREATE FUNCTION totp.probe(p_user text)
RETURNS text
LANGUAGE sql SECURITY DEFINER STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM totp.account WHERE username = p_user)
                THEN 'enrolled' ELSE 'not-enrolled' END
$$;

-- What totp.enroll_self returns: outcome 'enrolled' or 'refused:<reason>'; scratch_codes: the user's new scratch
-- codes (first token only), to be shown once (the database keeps only their hashes), else an empty array.
CREATE TYPE totp.enrolment AS (
    outcome text,
    scratch_codes text[]
);

-- p_n new distinct 8-digit scratch codes for p_user (no leading zero, as google-authenticator's), replacing the
-- old ones; returns them. 48 random bits per code: the modulo bias is below 10^-6.
CREATE FUNCTION totp.new_scratch(p_user text, p_n integer)
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s bytea;
    codes text[] := '{}';
    c text;
BEGIN
    SELECT salt INTO STRICT s FROM totp.account WHERE username = p_user;
    WHILE cardinality(codes) < p_n LOOP
        c := (10000000 + ('x' || encode(totp_crypto.gen_random_bytes(6), 'hex'))::bit(48)::bigint % 90000000)::text;
        IF NOT c = ANY (codes) THEN
            codes := codes || c;
        END IF;
    END LOOP;
    DELETE FROM totp.scratch WHERE username = p_user;
    INSERT INTO totp.scratch (username, code_hash) SELECT p_user, totp.scratch_hash(s, x) FROM unnest(codes) AS x;
    RETURN codes;
END
$$;

-- Add a token for p_user (pam-totpd's enroll request, which only root or the user may send). p_confirm must be a
-- current code of the new token (the user scanned it correctly); it counts as used, so it cannot log in. When the
-- user already has an active token, p_current must be a current code of one of them or an unused scratch code,
-- checked and consumed like a login (throttled, counted towards the failure ceiling, logged as service
-- 'totp-enroll'), so a stolen shell session cannot quietly add the attacker's phone. The first token comes with 5
-- new scratch codes. Refusal reasons: disabled, label-exists, bad-confirmation, or verify's reason for p_current.
CREATE FUNCTION totp.enroll_self(p_user text, p_label text, p_secret bytea, p_kind text, p_algorithm text,
                                 p_digits integer, p_period integer, p_window integer,
                                 p_confirm text, p_current text)
RETURNS totp.enrolment
LANGUAGE plpgsql SECURITY DEFINER VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    now_s bigint := floor(extract(epoch FROM now()))::bigint;
    lo bigint;
    hit bigint;
    first boolean;
    cur totp.verdict;
    no_codes text[] := '{}';
BEGIN
    IF EXISTS (SELECT 1 FROM totp.account WHERE username = p_user AND disabled_at IS NOT NULL) THEN
        RETURN ROW('refused:disabled', no_codes)::totp.enrolment;
    END IF;
    IF EXISTS (SELECT 1 FROM totp.token WHERE username = p_user AND label = p_label) THEN
        RETURN ROW('refused:label-exists', no_codes)::totp.enrolment;
    END IF;
    lo := CASE WHEN p_kind = 'totp' THEN now_s / p_period - (p_window - 1) / 2 ELSE 0 END;
    hit := totp.match(p_secret, p_algorithm, p_digits, lo, lo + p_window - 1, coalesce(p_confirm, ''));
    IF hit IS NULL THEN
        RETURN ROW('refused:bad-confirmation', no_codes)::totp.enrolment;
    END IF;
    first := NOT EXISTS (SELECT 1 FROM totp.token WHERE username = p_user AND disabled_at IS NULL);
    IF NOT first THEN
        cur := totp.decide(p_user, coalesce(p_current, ''), 'enroll', 'totp-enroll', now());
        IF cur.outcome <> 'accepted' THEN
            RETURN ROW('refused:' || coalesce(cur.reason, cur.outcome), no_codes)::totp.enrolment;
        END IF;
    END IF;
    INSERT INTO totp.account (username) VALUES (p_user) ON CONFLICT (username) DO NOTHING;
    INSERT INTO totp.token (username, label, kind, algorithm, secret, digits, period, window_size, last_step,
                            hotp_next)
    VALUES (p_user, p_label, p_kind, p_algorithm, p_secret, p_digits, p_period, p_window,
            CASE WHEN p_kind = 'totp' THEN hit ELSE -1 END, CASE WHEN p_kind = 'hotp' THEN hit + 1 ELSE 0 END);
    INSERT INTO totp.event (username, host_role, rhost, service, outcome, detail)
    VALUES (p_user, session_user, '', 'totp-enroll', 'enrolled', p_label);
    RETURN ROW('enrolled', CASE WHEN first THEN totp.new_scratch(p_user, 5) ELSE no_codes END)::totp.enrolment;
END
$$;

-- The user's tokens and unused scratch codes, never a secret (pam-totpd's status request; `totp-enroll status`).
-- No row: not enrolled. One row with a NULL label: enrolled without tokens (e.g. after every token was removed).
-- active: neither the token nor the user is disabled.
CREATE FUNCTION totp.status(p_user text)
RETURNS TABLE (label text, kind text, active boolean, created_at timestamptz, last_used_at timestamptz,
               scratch_left integer)
LANGUAGE sql SECURITY DEFINER STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.label, t.kind, t.disabled_at IS NULL AND a.disabled_at IS NULL, t.created_at, t.last_used_at,
           (SELECT count(*) FROM totp.scratch AS s WHERE s.username = a.username AND s.used_at IS NULL)::integer
    FROM totp.account AS a LEFT JOIN totp.token AS t ON t.username = a.username
    WHERE a.username = p_user
    ORDER BY t.label
$$;

-- Admin API (group totp_admin). ------------------------------------------------------------------------------

CREATE FUNCTION totp.admin_add_token(p_user text, p_label text, p_secret bytea, p_kind text DEFAULT 'totp',
                                     p_algorithm text DEFAULT 'SHA1', p_digits integer DEFAULT 6,
                                     p_period integer DEFAULT 30, p_window integer DEFAULT 3,
                                     p_hotp_next bigint DEFAULT 0)
RETURNS void
LANGUAGE sql SECURITY DEFINER VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO totp.account (username) VALUES (p_user) ON CONFLICT (username) DO NOTHING;
    INSERT INTO totp.token (username, label, kind, algorithm, secret, digits, period, window_size, hotp_next)
    VALUES (p_user, p_label, p_kind, p_algorithm, p_secret, p_digits, p_period, p_window, p_hotp_next);
$$;

-- Replace the user's scratch codes (8 digits each).
CREATE FUNCTION totp.admin_set_scratch(p_user text, p_codes text[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s bytea;
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_codes) AS c WHERE c !~ '^[0-9]{8}$') THEN
        RAISE EXCEPTION 'scratch codes are 8 digits' USING ERRCODE = '22023';
    END IF;
    INSERT INTO totp.account (username) VALUES (p_user) ON CONFLICT (username) DO NOTHING;
    SELECT salt INTO STRICT s FROM totp.account WHERE username = p_user;
    DELETE FROM totp.scratch WHERE username = p_user;
    INSERT INTO totp.scratch (username, code_hash)
    SELECT DISTINCT p_user, totp.scratch_hash(s, c) FROM unnest(p_codes) AS c;
END
$$;

-- Disable one token (p_label) or, with p_label NULL, the whole user; takes effect at the next attempt.
CREATE FUNCTION totp.admin_disable(p_user text, p_label text DEFAULT NULL)
RETURNS void
LANGUAGE sql SECURITY DEFINER VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE totp.token SET disabled_at = now()
    WHERE username = p_user AND label = p_label AND disabled_at IS NULL;
    UPDATE totp.account SET disabled_at = now()
    WHERE username = p_user AND p_label IS NULL AND disabled_at IS NULL;
    INSERT INTO totp.event (username, host_role, rhost, service, outcome, detail)
    VALUES (p_user, session_user, '', 'totp-enroll', 'disabled', p_label);
$$;

-- Forget the user entirely (tokens, scratch codes, lock, disabled mark; the audit log stays), so that they enroll
-- again from scratch. Returns whether the user was enrolled. Until they do, a probe says not-enrolled (nullok!).
CREATE FUNCTION totp.admin_reset(p_user text)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    DELETE FROM totp.attempt WHERE username = p_user;
    INSERT INTO totp.event (username, host_role, rhost, service, outcome, detail)
    SELECT p_user, session_user, '', 'totp-enroll', 'reset', NULL
    WHERE EXISTS (SELECT 1 FROM totp.account WHERE username = p_user);
    WITH gone AS (DELETE FROM totp.account WHERE username = p_user RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM gone);
$$;

CREATE FUNCTION totp.admin_unlock(p_user text)
RETURNS void
LANGUAGE sql SECURITY DEFINER VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE totp.account SET failures = 0, locked_until = NULL WHERE username = p_user;
    DELETE FROM totp.attempt WHERE username = p_user;
    INSERT INTO totp.event (username, host_role, rhost, service, outcome, detail)
    VALUES (p_user, session_user, '', 'totp-enroll', 'unlocked', NULL);
$$;

-- One active token as a google-authenticator file needs it, for `totp-enroll admin export` (rolling a user back to
-- the file backend). Admins only: it returns the secret.
CREATE FUNCTION totp.admin_export(p_user text, p_label text)
RETURNS TABLE (kind text, algorithm text, secret_hex text, digits integer, period integer, window_size integer,
               hotp_next bigint)
LANGUAGE sql SECURITY DEFINER STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.kind, t.algorithm, encode(t.secret, 'hex'), t.digits, t.period, t.window_size, t.hotp_next
    FROM totp.token AS t JOIN totp.account AS a ON a.username = t.username
    WHERE t.username = p_user AND t.label = p_label AND t.disabled_at IS NULL AND a.disabled_at IS NULL
$$;

-- Grants: nothing else (tables, helpers, totp.decide) is reachable by hosts or admins.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA totp FROM PUBLIC;
GRANT EXECUTE ON FUNCTION totp.verify(text, text, text, text) TO totp_host;
GRANT EXECUTE ON FUNCTION totp.probe(text) TO totp_host;
GRANT EXECUTE ON FUNCTION totp.enroll_self(text, text, bytea, text, text, integer, integer, integer, text, text)
    TO totp_host;
GRANT EXECUTE ON FUNCTION totp.status(text) TO totp_host, totp_admin;
GRANT EXECUTE ON FUNCTION totp.admin_add_token(text, text, bytea, text, text, integer, integer, integer, bigint),
                          totp.admin_set_scratch(text, text[]),
                          totp.admin_disable(text, text),
                          totp.admin_unlock(text),
                          totp.admin_reset(text),
                          totp.admin_export(text, text),
                          totp.base32_decode(text)
    TO totp_admin;

RESET ROLE;
COMMIT;
