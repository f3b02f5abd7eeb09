/* A memory scanner for the escape tests: looks for marker strings in the environment,
 * command line and readable memory (/proc/PID/maps + /proc/PID/mem) of every process it
 * can see (or of one PID), except itself.
 *
 *   procscan [-p PID] HEX-MARKER...
 *
 * Markers come hex-encoded, so they appear in no command line or memory but the
 * scanner's own. Prints one line per process:
 *   pid P environ=BYTES cmdline=BYTES mem=BYTES
 * and one line per hit:
 *   found MARKER-INDEX pid P in environ|cmdline|mem
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MARKERS 8
#define CHUNK (1 << 20)

static char *markers[MAX_MARKERS];
static size_t marker_len[MAX_MARKERS];
static int n_markers;
static size_t longest;

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static char *unhex(const char *h, size_t *len) {
    size_t n = strlen(h) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) out[i] = (char)(hexval(h[2 * i]) * 16 + hexval(h[2 * i + 1]));
    out[n] = 0;
    *len = n;
    return out;
}

/* Report every marker in buf (once per marker and place). */
static void search(const char *buf, size_t n, int pid, const char *where, int *seen) {
    for (int m = 0; m < n_markers; m++) {
        if (!seen[m] && memmem(buf, n, markers[m], marker_len[m])) {
            seen[m] = 1;
            printf("found %d pid %d in %s\n", m, pid, where);
        }
    }
}

static size_t scan_file(int pid, const char *name) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    static char buf[CHUNK];
    size_t total = 0;
    ssize_t r;
    int seen[MAX_MARKERS] = {0};
    /* environ and cmdline are small: one buffer, no marker split across reads. */
    while (total < sizeof buf && (r = read(fd, buf + total, sizeof buf - total)) > 0) total += (size_t)r;
    close(fd);
    search(buf, total, pid, name, seen);
    return total;
}

static size_t scan_mem(int pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *maps = fopen(path, "r");
    if (!maps) return 0;
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int mem = open(path, O_RDONLY);
    if (mem < 0) {
        fclose(maps);
        return 0;
    }
    static char buf[CHUNK + 256];
    int seen[MAX_MARKERS] = {0};
    size_t total = 0;
    char line[512];
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 || perms[0] != 'r') continue;
        if (strstr(line, "[vvar") || strstr(line, "[vsyscall]")) continue;
        size_t carry = 0;
        for (unsigned long at = start; at < end;) {
            size_t want = end - at < CHUNK ? end - at : CHUNK;
            ssize_t r = pread(mem, buf + carry, want, (off_t)at);
            if (r <= 0) break;
            total += (size_t)r;
            search(buf, carry + (size_t)r, pid, "mem", seen);
            /* Keep the tail, so a marker split across chunks is still found. */
            size_t keep = longest - 1 < carry + (size_t)r ? longest - 1 : carry + (size_t)r;
            memmove(buf, buf + carry + (size_t)r - keep, keep);
            carry = keep;
            at += (unsigned long)r;
        }
    }
    close(mem);
    fclose(maps);
    return total;
}

static void scan(int pid) {
    size_t env = scan_file(pid, "environ");
    size_t cmd = scan_file(pid, "cmdline");
    size_t mem = scan_mem(pid);
    printf("pid %d environ=%zu cmdline=%zu mem=%zu\n", pid, env, cmd, mem);
}

int main(int argc, char **argv) {
    int only = 0;
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "-p") == 0) {
        only = atoi(argv[2]);
        i = 3;
    }
    for (; i < argc && n_markers < MAX_MARKERS; i++) {
        markers[n_markers] = unhex(argv[i], &marker_len[n_markers]);
        if (marker_len[n_markers] > longest) longest = marker_len[n_markers];
        n_markers++;
    }
    if (n_markers == 0 || longest == 0) {
        fprintf(stderr, "usage: procscan [-p PID] HEX-MARKER...\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (only) {
        scan(only);
        return 0;
    }
    DIR *d = opendir("/proc");
    if (!d) {
        perror("/proc");
        return 1;
    }
    struct dirent *e;
    int self = getpid();
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid > 0 && pid != self) scan(pid);
    }
    closedir(d);
    return 0;
}
