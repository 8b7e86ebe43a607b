/* Test-only LD_PRELOAD shim: captures syslog() calls (which is what pam_syslog ends in) into the file named by
 * $PAMH_SYSLOG_FILE, one line per message: "<priority incl. facility>\t<message>", with backslash, tab and
 * newline escaped as \\, \t, \n. Never shipped; loaded only into the harness process `pamh`. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void emit(int pri, const char *fmt, va_list ap) {
    const char *path = getenv("PAMH_SYSLOG_FILE");
    if (path == NULL || fmt == NULL) return;
    char msg[8192];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof msg) n = (int)sizeof msg - 1;
    static char line[2 * sizeof msg + 32];
    int o = snprintf(line, 32, "%d\t", pri);
    for (int i = 0; i < n; i++) {
        char c = msg[i];
        if (c == '\\') { line[o++] = '\\'; line[o++] = '\\'; }
        else if (c == '\n') { line[o++] = '\\'; line[o++] = 'n'; }
        else if (c == '\t') { line[o++] = '\\'; line[o++] = 't'; }
        else line[o++] = c;
    }
    line[o++] = '\n';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    ssize_t w = write(fd, line, (size_t)o);
    (void)w;
    close(fd);
}

void vsyslog(int pri, const char *fmt, va_list ap) { emit(pri, fmt, ap); }
void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap) { (void)flag; emit(pri, fmt, ap); }
void syslog(int pri, const char *fmt, ...) {
    va_list ap; va_start(ap, fmt); emit(pri, fmt, ap); va_end(ap);
}
void __syslog_chk(int pri, int flag, const char *fmt, ...) {
    (void)flag; va_list ap; va_start(ap, fmt); emit(pri, fmt, ap); va_end(ap);
}
void openlog(const char *ident, int option, int facility) { (void)ident; (void)option; (void)facility; }
void closelog(void) {}
