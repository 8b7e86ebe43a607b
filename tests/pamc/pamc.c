/*
 * pamc: the smallest PAM client, in C, for bench/totp.sh. sshd is a C program without Rust's runtime (no
 * libgcc_s, no Rust std) loaded, so a Rust driver would hide part of what loading a Rust module costs there.
 *
 *   pamc CONFDIR SERVICE USER REPLY
 *
 * Runs pam_authenticate once for USER through CONFDIR/SERVICE (pam_start_confdir: /etc/pam.d is not read),
 * answers every prompt with REPLY, prints "result N" (the PAM return code) and exits 0; exits 2 on a usage or
 * setup error.
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    if (n <= 0 || n > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    struct pam_response *r = calloc((size_t)n, sizeof(*r));
    if (r == NULL)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        int style = msg[i]->msg_style;
        if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
            r[i].resp = strdup((const char *)data);
            if (r[i].resp == NULL) {
                for (int j = 0; j < i; j++)
                    free(r[j].resp);
                free(r);
                return PAM_BUF_ERR;
            }
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: pamc CONFDIR SERVICE USER REPLY\n");
        return 2;
    }
    struct pam_conv c = {conv, argv[4]};
    pam_handle_t *pamh = NULL;
    int rc = pam_start_confdir(argv[2], argv[3], &c, argv[1], &pamh);
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "pamc: pam_start_confdir: %d\n", rc);
        return 2;
    }
    rc = pam_authenticate(pamh, 0);
    pam_end(pamh, rc);
    printf("result %d\n", rc);
    return 0;
}
