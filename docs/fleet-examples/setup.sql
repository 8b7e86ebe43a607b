-- Setting up the fleet database for pam-totpd, as a PostgreSQL superuser (psql). The schema script
-- (schema.sql beside this file; pgcrypto from postgresql-contrib must be installable) creates the roles
-- totp_owner (NOLOGIN, owns everything), totp_host and totp_admin (groups), the schema totp and its
-- functions, in one transaction.
--
--   cd /usr/share/doc/pam-totpd/examples && psql -v ON_ERROR_STOP=1 -f setup.sql

CREATE DATABASE totp;
\c totp
\ir schema.sql

-- One login role per host (or per pam-totpd), in totp_host: it may only EXECUTE totp.verify, totp.probe and
-- totp.enroll_self, never read a secret. With `cert` in pg_hba.conf the certificate's CN is this name.
CREATE ROLE host_web1 LOGIN IN ROLE totp_host;
CREATE ROLE host_web2 LOGIN IN ROLE totp_host;

-- Admins (totp-enroll admin ..., the admin_* functions and the audit log), with their own credentials.
CREATE ROLE alice_admin LOGIN IN ROLE totp_admin;
-- \password alice_admin

-- Policy (one row): per (user, source) throttle, then the fleet-wide failure ceiling and its cool-down.
-- UPDATE totp.setting SET rate_attempts = 3, rate_seconds = 30, max_failures = 100, cooldown = '15 minutes';

-- Enroll a user with an existing google-authenticator secret, and give scratch codes (stored as hashes):
-- SELECT totp.admin_add_token('alice', 'phone', totp.base32_decode('JBSWY3DPEHPK3PXP'));
-- SELECT totp.admin_set_scratch('alice', ARRAY['12345678', '87654321']);
